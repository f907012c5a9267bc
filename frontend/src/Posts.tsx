import { useState } from "react";
import { usePosts, useUpdatePost } from "./hooks";
import { seedUpdatePost, updatePost, type Post } from "./api";

function EditableTitle({ post, onSave }: { post: Post; onSave: (title: string) => void }) {
  const [draft, setDraft] = useState<string | null>(null);
  if (draft === null) {
    return (
      <span>
        <span data-testid={`title-${post.id}`}>{post.title}</span>{" "}
        <button onClick={() => setDraft(post.title)} aria-label={`edit ${post.id}`}>edit</button>
      </span>
    );
  }
  return (
    <form onSubmit={(e) => { e.preventDefault(); onSave(draft); setDraft(null); }}>
      <input aria-label={`new title ${post.id}`} value={draft} onChange={(e) => setDraft(e.target.value)} />
      <button type="submit">save</button>
    </form>
  );
}

export type Variant = "fixed" | "seed";

export function Posts({ variant = "fixed" }: { variant?: Variant }) {
  const posts = usePosts();
  const update = useUpdatePost(variant === "seed" ? seedUpdatePost : updatePost);
  if (posts.isPending) return <p role="status">Loading posts…</p>;
  if (posts.isError) {
    return (
      <div role="alert">
        <p>Could not load posts: {posts.error.message}</p>
        <button onClick={() => posts.refetch()}>Retry</button>
      </div>
    );
  }
  return (
    <main>
      <h1>Posts</h1>
      {variant === "seed" && (
        <p data-testid="variant">Seed variant: the save is fetch(...).then(r =&gt; r.json()), which never rejects.</p>
      )}
      {update.rolledBack && (
        <div role="alert" data-testid="rollback">
          {update.rolledBack} <button onClick={update.dismiss}>dismiss</button>
        </div>
      )}
      {posts.data.data.length === 0 ? (
        <p data-testid="empty">No posts yet.</p>
      ) : (
        <ul>
          {posts.data.data.map((post) => (
            <li key={post.id}>
              <EditableTitle post={post} onSave={(title) => update.mutate({ id: post.id, title })} />
            </li>
          ))}
        </ul>
      )}
      <p data-testid="sync">{posts.isFetching || update.isPending ? "saving / refreshing…" : "in sync"}</p>
    </main>
  );
}
