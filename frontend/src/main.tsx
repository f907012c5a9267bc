import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { Posts } from "./Posts";

// ?variant=seed serves the seed's save (notebook 08 shows its bug); ?embedded=1, the frame inside the
// notebook, does not refetch when the window regains focus: that refetch would use up failures a cell
// injects for its own requests.
const params = new URLSearchParams(window.location.search);
const variant = params.get("variant") === "seed" ? "seed" : "fixed";
// retry: 1 so a learner who makes the server fail sees the error state after one quiet retry.
const queryClient = new QueryClient({
  defaultOptions: { queries: { retry: 1, retryDelay: 300, refetchOnWindowFocus: params.get("embedded") !== "1" } },
});

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <Posts variant={variant} />
    </QueryClientProvider>
  </StrictMode>,
);
