import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { Posts } from "./Posts";

// retry: 1 so a learner who makes the server fail sees the error state after one quiet retry.
const queryClient = new QueryClient({ defaultOptions: { queries: { retry: 1, retryDelay: 300 } } });

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <Posts />
    </QueryClientProvider>
  </StrictMode>,
);
