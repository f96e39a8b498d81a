"""gamemech: the command line, plots and demos of game-mechanics."""
