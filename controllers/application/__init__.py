"""The application controller: M4DApplication → catalog + policy decisions → module and cluster choice →
Plotter, with a status that says for each asset what was decided and why."""
