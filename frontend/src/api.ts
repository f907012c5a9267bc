// The two calls the page makes to the course API (same origin: the API serves this app at /app).
export type Post = { id: number; title: string; body: string; updated_at: string };
export type PostPage = { data: Post[]; next_cursor: string | null };

export class ApiError extends Error {
  constructor(public status: number, public detail: string) {
    super(`${status}: ${detail}`);
  }
}

async function send<T>(path: string, init?: RequestInit): Promise<T> {
  const response = await fetch(path, init);
  if (!response.ok) {
    const problem = await response.json().catch(() => ({ detail: response.statusText }));
    throw new ApiError(response.status, problem.detail ?? response.statusText);
  }
  return response.json() as Promise<T>;
}

export const fetchPosts = (): Promise<PostPage> => send<PostPage>("../api/posts?limit=20");

export type SavePost = (id: number, title: string) => Promise<unknown>;

export const updatePost = (id: number, title: string): Promise<Post> =>
  send<Post>(`../api/posts/${id}`, {
    method: "PUT",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ title }),
  });

// The seed's mutationFn, kept so that notebook 08 can show its bug (served at /app/?variant=seed).
// fetch() rejects only when no response arrives: a 500 resolves, r.json() parses the problem body, and
// the mutation "succeeds", so onError, the rollback, never runs and no error is shown.
export const seedUpdatePost = (id: number, title: string): Promise<unknown> =>
  fetch(`../api/posts/${id}`, {
    method: "PUT",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ title }),
  }).then((r) => r.json());
