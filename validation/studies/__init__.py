"""Protocol studies on a potential: which MD choice moves a number, measured one factor at a time."""
