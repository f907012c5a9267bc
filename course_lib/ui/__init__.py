"""The optimistic UI lesson (notebook 08): the React Query protocol as a Python model (`protocol`) and
the demo posts the page lists and renames (`posts`)."""
