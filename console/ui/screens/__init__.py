"""One screen a module: destinations, the destination form, mapping, summary, failures,
history, the key map, and small modal dialogs."""
