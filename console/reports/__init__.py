"""Views rendered alike on screen, in the command line's reports and in exports: column specs
and the formatting they share. Nothing here imports Textual."""
