// The list query and the optimistic edit, as the course's source notes give them (TanStack Query v5).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { fetchPosts, updatePost, type PostPage, type SavePost } from "./api";

export const postsKey = ["posts"] as const;
export const updateKey = ["updatePost"] as const;

export function usePosts() {
  // staleTime 30 s: a list seen less than 30 s ago is shown from the cache without refetching.
  return useQuery({ queryKey: postsKey, queryFn: fetchPosts, staleTime: 30_000 });
}

type Vars = { id: number; title: string };
type Context = { previous?: PostPage; id: number; oldTitle?: string };

// `save` is the request; the seed variant passes its own (api.ts, seedUpdatePost) to show why it must reject.
export function useUpdatePost(save: SavePost = updatePost) {
  const queryClient = useQueryClient();
  const [rolledBack, setRolledBack] = useState<string | null>(null);
  const mutation = useMutation<unknown, Error, Vars, Context>({
    mutationKey: updateKey,
    mutationFn: ({ id, title }) => save(id, title),
    onMutate: async ({ id, title }) => {
      setRolledBack(null);
      // A refetch in flight would overwrite the optimistic value with the old one when it lands.
      await queryClient.cancelQueries({ queryKey: postsKey });
      const previous = queryClient.getQueryData<PostPage>(postsKey);
      const oldTitle = previous?.data.find((p) => p.id === id)?.title;
      queryClient.setQueryData<PostPage>(postsKey, (page) =>
        page && { ...page, data: page.data.map((p) => (p.id === id ? { ...p, title } : p)) });
      return { previous, id, oldTitle };
    },
    onError: (error, _vars, context) => {
      if (context?.previous) {
        // Put back only this post's title: restoring the whole snapshot would also undo
        // other edits that are still in flight or already succeeded.
        queryClient.setQueryData<PostPage>(postsKey, (page) =>
          page && { ...page,
            data: page.data.map((p) => (p.id === context.id ? { ...p, title: context.oldTitle ?? p.title } : p)) });
      }
      setRolledBack(`Could not save "${context?.oldTitle ?? ""}": ${error.message}. The old title is back.`);
    },
    onSettled: () => {
      // Overlapping edits: refetch only when the last one settles, or an early refetch would
      // briefly show the server's state without the edits still in flight.
      if (queryClient.isMutating({ mutationKey: updateKey }) === 1) {
        return queryClient.invalidateQueries({ queryKey: postsKey });
      }
    },
  });
  return { ...mutation, rolledBack, dismiss: () => setRolledBack(null) };
}
