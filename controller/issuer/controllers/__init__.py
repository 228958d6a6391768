"""The act layer: reconcilers that read the caches, call the pure decide functions and carry
out their decisions (status writes first, then Events and actions)."""
