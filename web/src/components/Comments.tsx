// The comments drawer: threads (pinned first, as the API orders them), replies, likes.

import { useEffect, useRef, useState } from "preact/hooks";
import { api, qs, session } from "../api";
import { navigate } from "../router";
import type { Comment, CommentPage, ReplyPage, Video } from "../types";
import { Avatar, Caption, Empty, ErrorBox, Spinner, errorText, formatCount, timeAgo } from "../util";

interface Props {
  video: Video;
  onClose: () => void;
  onCount: (n: number) => void;
}

export function CommentsDrawer({ video, onClose, onCount }: Props) {
  const [comments, setComments] = useState<Comment[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [disabled, setDisabled] = useState(!video.allow_comments);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [text, setText] = useState("");
  const [replyTo, setReplyTo] = useState<Comment | null>(null);
  const [posting, setPosting] = useState(false);
  const [count, setCount] = useState(video.stats.comments);
  const input = useRef<HTMLTextAreaElement>(null);
  const panel = useRef<HTMLDivElement>(null);

  const load = async (from: string | null) => {
    setLoading(true);
    try {
      const page = await api<CommentPage>(`/videos/${video.video_id}/comments${qs({ cursor: from, page_size: 20 })}`);
      setComments((old) => (from ? [...old, ...page.comments] : page.comments));
      setCursor(page.has_more ? page.next_cursor : null);
      setDisabled(page.comments_disabled);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setLoading(false);
    }
  };

  useEffect(() => {
    void load(null);
    const previous = document.activeElement as HTMLElement | null;
    panel.current?.focus();
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && onClose();
    document.addEventListener("keydown", onKey);
    return () => {
      document.removeEventListener("keydown", onKey);
      previous?.focus?.();
    };
  }, [video.video_id]);

  const post = async (e: Event) => {
    e.preventDefault();
    if (!session.signedIn) return navigate("/login");
    if (!text.trim()) return;
    setPosting(true);
    setError(null);
    try {
      const parent = replyTo ? (replyTo.thread_id ?? replyTo.comment_id) : null;
      const created = await api<Comment>(`/videos/${video.video_id}/comments`, {
        method: "POST",
        body: { text: text.trim(), parent_comment_id: replyTo?.comment_id ?? null },
      });
      if (parent) {
        setComments((cs) =>
          cs.map((c) =>
            c.comment_id === parent ? { ...c, reply_count: c.reply_count + 1, replies: [...c.replies, created] } : c,
          ),
        );
      } else {
        setComments((cs) => {
          const pinned = cs.filter((c) => c.is_pinned);
          return [...pinned, created, ...cs.filter((c) => !c.is_pinned)];
        });
      }
      setText("");
      setReplyTo(null);
      setCount(count + 1);
      onCount(count + 1);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setPosting(false);
    }
  };

  const reply = (c: Comment) => {
    setReplyTo(c);
    setText(c.user ? `@${c.user.username} ` : "");
    input.current?.focus();
  };

  return (
    <div class="drawer-backdrop" onClick={(e) => e.target === e.currentTarget && onClose()}>
      <div class="drawer" role="dialog" aria-modal="true" aria-labelledby="comments-title" tabIndex={-1} ref={panel}>
        <header class="drawer-head">
          <h2 id="comments-title">{formatCount(count)} comments</h2>
          <button class="icon" onClick={onClose} aria-label="Close comments">
            ✕
          </button>
        </header>
        <div class="drawer-body">
          <ErrorBox error={error} />
          {comments.length === 0 && !loading && <Empty>{disabled ? "Comments are turned off." : "No comments yet. Be the first."}</Empty>}
          <ul class="comments">
            {comments.map((c) => (
              <CommentItem key={c.comment_id} comment={c} onReply={reply} />
            ))}
          </ul>
          {loading && <Spinner />}
          {cursor && !loading && (
            <button class="link" onClick={() => load(cursor)}>
              More comments
            </button>
          )}
        </div>
        {!disabled && (
          <form class="comment-form" onSubmit={post}>
            {replyTo && (
              <p class="replying">
                Replying to @{replyTo.user?.username ?? "comment"}{" "}
                <button type="button" class="link" onClick={() => setReplyTo(null)}>
                  cancel
                </button>
              </p>
            )}
            <label class="sr-only" for="comment-text">
              Add a comment
            </label>
            <textarea
              id="comment-text"
              ref={input}
              rows={1}
              maxLength={2200}
              placeholder={session.signedIn ? "Add a comment…" : "Sign in to comment"}
              value={text}
              onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
              onKeyDown={(e) => {
                if (e.key === "Enter" && !e.shiftKey) post(e);
              }}
            />
            <button type="submit" disabled={posting || !text.trim()}>
              Post
            </button>
          </form>
        )}
      </div>
    </div>
  );
}

function CommentItem({ comment, onReply }: { comment: Comment; onReply: (c: Comment) => void }) {
  const [c, setC] = useState(comment);
  const [replies, setReplies] = useState<Comment[]>(comment.replies);
  const [cursor, setCursor] = useState<string | null>(null);
  const [expanded, setExpanded] = useState(false);
  useEffect(() => {
    setC(comment);
    setReplies(comment.replies);
  }, [comment]);

  const like = async () => {
    if (!session.signedIn) return navigate("/login");
    const liked = !!c.user_interaction.liked;
    try {
      const r = await api<{ liked: boolean; like_count: number }>(`/comments/${c.comment_id}/like`, {
        method: "POST",
        body: { action: liked ? "remove" : "like" },
      });
      setC({ ...c, like_count: r.like_count, user_interaction: { ...c.user_interaction, liked: r.liked } });
    } catch {
      // The count stays as it was.
    }
  };

  const moreReplies = async () => {
    const page = await api<ReplyPage>(`/comments/${c.comment_id}/replies${qs({ cursor, page_size: 20 })}`);
    setReplies((old) => {
      const ids = new Set(old.map((r) => r.comment_id));
      return cursor || expanded ? [...old, ...page.replies.filter((r) => !ids.has(r.comment_id))] : page.replies;
    });
    setExpanded(true);
    setCursor(page.has_more ? page.next_cursor : null);
  };

  const hidden = c.reply_count - replies.length;
  return (
    <li class={c.is_pinned ? "comment pinned" : "comment"}>
      <div class="comment-row">
        {c.user ? <Avatar user={c.user} size={32} /> : <span class="avatar avatar-letter" />}
        <div class="comment-main">
          <p class="comment-meta">
            {c.user ? <a href={`/@${c.user.username}`}>@{c.user.username}</a> : "deleted"}
            {c.is_pinned && <span class="pin"> · Pinned</span>}
            <span class="muted"> · {timeAgo(c.created_at)}</span>
          </p>
          <p class="comment-text">{c.is_deleted ? <em>Comment deleted</em> : <Caption text={c.text ?? ""} />}</p>
          <div class="comment-actions">
            <button class="link" onClick={() => onReply(c)}>
              Reply
            </button>
            <button class={c.user_interaction.liked ? "link on" : "link"} onClick={like} aria-pressed={!!c.user_interaction.liked} aria-label={`Like comment (${c.like_count})`}>
              ♥ {formatCount(c.like_count)}
            </button>
          </div>
        </div>
      </div>
      {(replies.length > 0 || hidden > 0) && (
        <ul class="replies">
          {replies.map((r) => (
            <CommentItem key={r.comment_id} comment={r} onReply={onReply} />
          ))}
          {(hidden > 0 || cursor) && (
            <li>
              <button class="link" onClick={moreReplies}>
                View {hidden > 0 ? hidden : "more"} replies
              </button>
            </li>
          )}
        </ul>
      )}
    </li>
  );
}
