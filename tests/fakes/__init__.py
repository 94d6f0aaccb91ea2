"""Local fake servers of outside providers, speaking their documented requests and answers."""
