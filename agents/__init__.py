"""Floor 1: teacher, students, critic and summariser, each as an LLM and a simulated agent."""
