"""Views and watch events, watch positions and a viewer's history."""
