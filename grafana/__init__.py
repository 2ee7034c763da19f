"""Dashboards as code for brandpulse: ``python -m grafana.build`` writes grafana/dashboards."""
