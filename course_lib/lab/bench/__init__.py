"""Side-by-side benchmarks behind `course bench NAME`: ours against a named peer, same run, same machine."""
