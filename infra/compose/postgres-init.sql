-- Creates the databases of the single-host stack (infra/compose/docker-compose.yml) on the first
-- start of its PostgreSQL 15: Airflow's metadata, Superset's metadata, and the GeoPulse serving
-- database (published marts; its read-only roles come from jobs/publish).
CREATE USER airflow PASSWORD 'airflow';
CREATE DATABASE airflow OWNER airflow;
CREATE USER superset PASSWORD 'superset';
CREATE DATABASE superset OWNER superset;
CREATE USER geopulse PASSWORD 'geopulse';
CREATE DATABASE geopulse OWNER geopulse;
