-- compose.yaml's PostgreSQL: the image creates mlflow_db (POSTGRES_DB); this adds Rayline's own
-- database (schedules, run history, keys, audit: RAYLINE_STATE_DATABASE_URI).
CREATE DATABASE rayline;
