"""Välitupa's domain and wiring: settings, application, CLI, scheduler, programme and digest."""
