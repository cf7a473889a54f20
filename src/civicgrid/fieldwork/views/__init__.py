"""Pages of the field work app: the grid worker's offline app (app.py) and the centre's view of
visits, patrols and check-ins (centre.py)."""
