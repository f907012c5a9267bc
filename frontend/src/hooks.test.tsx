// The optimistic edit's contract, in jsdom with a scripted fetch: the new title shows before the server
// answers, a failure puts the old title back and says so, and overlapping edits refetch only once.
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { act, renderHook, waitFor } from "@testing-library/react";
import type { ReactNode } from "react";
import { afterEach, expect, test, vi } from "vitest";
import { seedUpdatePost, type PostPage } from "./api";
import { postsKey, usePosts, useUpdatePost } from "./hooks";

const page: PostPage = {
  data: [{ id: 1, title: "first", body: "", updated_at: "" }, { id: 2, title: "second", body: "", updated_at: "" }],
  next_cursor: null,
};

type Reply = { status: number; body: unknown; delayMs?: number };

function scriptFetch(replies: Record<string, Reply[]>) {
  const calls: string[] = [];
  vi.stubGlobal("fetch", vi.fn(async (url: string, init?: RequestInit) => {
    const key = `${init?.method ?? "GET"} ${url.replace("../", "/")}`;
    calls.push(key);
    const queue = replies[key.split("?")[0]] ?? [];
    const reply = queue.length > 1 ? queue.shift()! : queue[0] ?? { status: 404, body: { detail: "no route" } };
    await new Promise((r) => setTimeout(r, reply.delayMs ?? 0));
    return new Response(JSON.stringify(reply.body), { status: reply.status });
  }));
  return calls;
}

function setup() {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  client.setQueryData(postsKey, page);
  const wrapper = ({ children }: { children: ReactNode }) => (
    <QueryClientProvider client={client}>{children}</QueryClientProvider>
  );
  return { client, wrapper };
}

const titleOf = (client: QueryClient, id: number) =>
  client.getQueryData<PostPage>(postsKey)?.data.find((p) => p.id === id)?.title;

afterEach(() => vi.unstubAllGlobals());

test("the list query loads posts and keeps them fresh for 30 s", async () => {
  scriptFetch({ "GET /api/posts": [{ status: 200, body: page }] });
  const client = new QueryClient();
  const wrapper = ({ children }: { children: ReactNode }) => (
    <QueryClientProvider client={client}>{children}</QueryClientProvider>
  );
  const { result } = renderHook(() => usePosts(), { wrapper });
  await waitFor(() => expect(result.current.isSuccess).toBe(true));
  expect(result.current.data?.data.map((p) => p.title)).toEqual(["first", "second"]);
  expect(result.current.isStale).toBe(false);
});

test("the new title is in the cache before the server answers", async () => {
  scriptFetch({ "PUT /api/posts/1": [{ status: 200, body: { ...page.data[0], title: "renamed" }, delayMs: 200 }],
                "GET /api/posts": [{ status: 200, body: { ...page, data: [{ ...page.data[0], title: "renamed" }, page.data[1]] } }] });
  const { client, wrapper } = setup();
  const { result } = renderHook(() => useUpdatePost(), { wrapper });
  act(() => result.current.mutate({ id: 1, title: "renamed" }));
  await waitFor(() => expect(titleOf(client, 1)).toBe("renamed"));
  expect(result.current.isPending).toBe(true); // the server has not answered yet
  await waitFor(() => expect(result.current.isSuccess).toBe(true));
  expect(result.current.rolledBack).toBeNull();
});

test("a failing save puts the old title back and says so", async () => {
  scriptFetch({ "PUT /api/posts/1": [{ status: 500, body: { detail: "injected failure" }, delayMs: 50 }],
                "GET /api/posts": [{ status: 200, body: page }] });
  const { client, wrapper } = setup();
  const { result } = renderHook(() => useUpdatePost(), { wrapper });
  act(() => result.current.mutate({ id: 1, title: "doomed" }));
  await waitFor(() => expect(titleOf(client, 1)).toBe("doomed"));
  await waitFor(() => expect(result.current.isError).toBe(true));
  expect(titleOf(client, 1)).toBe("first");
  expect(result.current.rolledBack).toMatch(/injected failure/);
});

test("the seed's save never rejects: a 500 counts as success, nothing rolls back, nothing is said", async () => {
  scriptFetch({ "PUT /api/posts/1": [{ status: 500, body: { detail: "injected failure" }, delayMs: 50 }],
                "GET /api/posts": [{ status: 200, body: page }] });
  const { client, wrapper } = setup();
  const { result } = renderHook(() => useUpdatePost(seedUpdatePost), { wrapper });
  act(() => result.current.mutate({ id: 1, title: "doomed" }));
  await waitFor(() => expect(result.current.isSuccess).toBe(true)); // the 500 "succeeded"
  expect(titleOf(client, 1)).toBe("doomed"); // the title the server refused is still in the cache
  expect(result.current.rolledBack).toBeNull(); // onError never ran
});

test("on the seed's page the refused title then vanishes silently when the list refetches", async () => {
  scriptFetch({ "PUT /api/posts/1": [{ status: 500, body: { detail: "injected failure" }, delayMs: 50 }],
                "GET /api/posts": [{ status: 200, body: page }] });
  const { client, wrapper } = setup();
  const { result } = renderHook(() => [useUpdatePost(seedUpdatePost), usePosts()] as const, { wrapper });
  act(() => result.current[0].mutate({ id: 1, title: "doomed" }));
  await waitFor(() => expect(result.current[0].isSuccess).toBe(true));
  await waitFor(() => expect(titleOf(client, 1)).toBe("first")); // the refetch brings the server's title back
  expect(result.current[0].rolledBack).toBeNull(); // and the user was never told the save failed
});

test("overlapping edits refetch the list once, after the last one settles", async () => {
  const calls = scriptFetch({
    "PUT /api/posts/1": [{ status: 200, body: { ...page.data[0], title: "a" }, delayMs: 50 }],
    "PUT /api/posts/2": [{ status: 200, body: { ...page.data[1], title: "b" }, delayMs: 150 }],
    "GET /api/posts": [{ status: 200, body: { ...page, data: [{ ...page.data[0], title: "a" }, { ...page.data[1], title: "b" }] } }],
  });
  const { client, wrapper } = setup();
  // usePosts() is the list on screen: invalidation refetches only queries someone is watching.
  const { result } = renderHook(() => [useUpdatePost(), useUpdatePost(), usePosts()] as const, { wrapper });
  act(() => {
    result.current[0].mutate({ id: 1, title: "a" });
    result.current[1].mutate({ id: 2, title: "b" });
  });
  await waitFor(() => expect(result.current[0].isSuccess && result.current[1].isSuccess).toBe(true));
  await new Promise((r) => setTimeout(r, 200)); // room for any extra refetch to show up
  expect(calls.filter((c) => c.startsWith("GET"))).toHaveLength(1); // not one per edit
  expect(calls.at(-1)).toMatch(/^GET/); // and it came after both saves
  expect([titleOf(client, 1), titleOf(client, 2)]).toEqual(["a", "b"]);
});
