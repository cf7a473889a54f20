"""The demo city generator (`civicgrid demo-city`): a Binzhou-like city built through the same
import actions a city administrator uses."""
