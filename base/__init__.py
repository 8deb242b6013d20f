"""What several packages share and none of them owns: the lowest layer beside `routing`. It imports
nothing of Helpline's."""
