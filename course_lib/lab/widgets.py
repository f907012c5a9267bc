"""Controls that redraw a plot, and that still run (with their defaults) when nobody is watching.

`explore(draw, clients=(10, 190, 10, 50), ...)` shows sliders and dropdowns in JupyterLab and
redraws `draw(**values)` on every change. It also returns `draw(**defaults)`, so a cell can assert
on what the defaults show, and under nbval or `course run` (no one to move a slider) the cell
still computes and checks it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def explore(draw: Callable[..., Any], **controls: tuple | list) -> Any:
    """A slider for each (min, max, step, default) tuple, a dropdown for each (options list, default)."""
    import ipywidgets as w
    from IPython.display import display

    widgets, defaults = {}, {}
    # Labels in full: the default description width cuts "failing_share" to "failing_sh...".
    style = {"description_width": "initial"}
    for name, spec in controls.items():
        if isinstance(spec, tuple) and len(spec) == 4:
            lo, hi, step, default = spec
            cls = w.IntSlider if all(isinstance(v, int) for v in spec) else w.FloatSlider
            widgets[name] = cls(min=lo, max=hi, step=step, value=default, description=name, continuous_update=False,
                                style=style)
        else:
            options, default = spec
            widgets[name] = w.Dropdown(options=list(options), value=default, description=name, style=style)
        defaults[name] = widgets[name].value
    out = w.interactive_output(lambda **values: display(draw(**values)), widgets)
    display(w.VBox([w.HBox(list(widgets.values())), out]))
    return draw(**defaults)  # for the cell's assertions; the widget above shows the live drawing
