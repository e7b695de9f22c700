{{ config(meta={'dagster': {'ref': {'name': 'fct_customer_health_daily'}}}) }}
