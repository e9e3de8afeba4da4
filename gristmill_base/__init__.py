"""The ground floor: primitives every gristmill package may import (and which import none of them)."""
