"""gamemech: the command line, plots and demos of game-mechanics."""
import mechanics as _base  # checks the top-level names (docs/ARCHITECTURE.md, "Names")
if getattr(_base, "__distribution__", None) != "game-mechanics":
    raise ImportError(f"'mechanics' at {getattr(_base, '__file__', None)} is another "
                      "distribution's package; see 'Names' in docs/ARCHITECTURE.md")

