"""Floor 2: the LangGraph wiring of the stepping-stone curriculum."""
