"""Välitupa: composition root, CLI and runtime over the domain, services, render, jobs and infra layers."""
