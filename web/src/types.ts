// Shapes of the reelstack API (see /openapi.json); only the fields the app reads.

export interface Page {
  next_cursor: string | null;
  has_more: boolean;
}

export interface VideoAuthor {
  user_id: string;
  username: string;
  display_name: string;
  avatar_url: string | null;
  is_verified: boolean;
}

export interface SoundRef {
  sound_id: string;
  title: string;
  creator?: { user_id: string; username: string };
  is_original?: boolean;
}

export interface Video {
  video_id: string;
  user: VideoAuthor;
  caption: string;
  description: string;
  hashtags: string[];
  category: string | null;
  sound_id: string | null;
  sound?: SoundRef | null;
  duration: number | null;
  width: number | null;
  height: number | null;
  video_urls: Record<string, string>;
  thumbnail_url: string | null;
  thumbnails: { posters: Record<string, string>; storyboard_vtt: string | null };
  stats: { views: number; likes: number; comments: number; shares: number; saves?: number };
  visibility: Visibility;
  allow_comments: boolean;
  status: string;
  created_at: string;
  user_interaction: { liked?: boolean; saved?: boolean };
  resume_position?: number | null;
  reason?: string | null;
  watched_at?: string;
}
export type Visibility = "public" | "unlisted" | "followers" | "private";
export interface VideoPage extends Page {
  videos: Video[];
}

export interface UserStats {
  followers: number;
  following: number;
  videos: number;
  total_likes: number;
}
export interface Profile {
  user_id: string;
  username: string;
  display_name: string;
  bio: string;
  avatar_url: string | null;
  is_verified: boolean;
  is_private: boolean;
  stats: UserStats;
  is_following?: boolean;
  is_followed_by?: boolean;
  follow_requested?: boolean;
  is_blocking?: boolean;
}
export interface Me extends Profile {
  email: string;
  role: string;
}
export interface UserSummary {
  user_id: string;
  username: string;
  display_name: string;
  avatar_url: string | null;
  is_verified: boolean;
  is_following?: boolean;
}
export interface UserPage extends Page {
  users: UserSummary[];
}
export interface TokenPair {
  access_token: string;
  refresh_token: string;
  expires_in: number;
}
export interface RegisterResponse extends TokenPair {
  user: Me;
}
export interface FollowState {
  is_following: boolean;
  follow_requested: boolean;
  follower_count: number;
}

export interface UserRef {
  user_id: string;
  username: string;
}
export interface Comment {
  comment_id: string;
  video_id: string;
  thread_id: string | null;
  user: VideoAuthor | null;
  reply_to: UserRef | null;
  text: string | null;
  created_at: string;
  is_pinned: boolean;
  is_deleted: boolean;
  held_for_review: boolean;
  like_count: number;
  reply_count: number;
  user_interaction: { liked?: boolean; disliked?: boolean };
  replies: Comment[];
}
export interface CommentPage extends Page {
  comments: Comment[];
  comments_disabled: boolean;
}
export interface ReplyPage extends Page {
  replies: Comment[];
}

export interface UploadInit {
  video_id: string;
  upload_id: string;
  upload_url: string;
  chunk_size: number;
}
export interface ByteRange {
  start: number;
  end: number;
}
export interface UploadStateOut {
  upload_id: string;
  video_id: string;
  status: "uploading" | "uploaded" | "complete";
  total_bytes: number;
  bytes_uploaded: number;
  chunk_size: number;
  missing: ByteRange[];
}
export interface VideoStatus {
  video_id: string;
  status: string;
  progress: number;
  error: { code: string; detail: string } | null;
}

export interface NotificationOut {
  notification_id: string;
  type: string;
  actors: { user_id: string; username: string; display_name: string; avatar_url: string | null }[];
  actor_count: number;
  text: string;
  video: { video_id: string; thumbnail_url: string | null } | null;
  comment: { comment_id: string; text: string } | null;
  is_read: boolean;
  created_at: string;
}
export interface NotificationPage extends Page {
  notifications: NotificationOut[];
}

export interface Hashtag {
  tag: string;
  video_count: number;
  view_count: number;
}
export interface Sound {
  sound_id: string;
  title: string;
  creator: { user_id: string; username: string; display_name?: string; avatar_url?: string | null };
  duration: number | null;
  usage_count: number;
  is_original: boolean;
  audio_url?: string | null;
}
export interface Suggestion {
  type: "hashtag" | "user" | "query";
  text: string;
  id?: string;
  avatar_url?: string;
}
