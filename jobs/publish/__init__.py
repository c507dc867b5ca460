"""Publication: the privacy audit (audit.py), the serving database loader (serving.py), its views
(views.py) and PostgreSQL roles (roles.py); run.py is the publish task."""
