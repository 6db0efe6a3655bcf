//! The OpenAPI 3 description of the HTTP API, served at `/openapi.json`.

use serde_json::{Value, json};

fn error_response(what: &str) -> Value {
    json!({
        "description": what,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

fn tabular(description: &str) -> Value {
    json!({
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Rows"}},
            "text/csv": {"schema": {"type": "string"}},
            "application/vnd.apache.arrow.stream": {"schema": {"type": "string", "format": "binary"}},
            "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}}
        }
    })
}

pub fn document() -> Value {
    let id = json!({
        "name": "id", "in": "path", "required": true,
        "description": "Dataset id: domain.name (e.g. finances.balances_communes)",
        "schema": {"type": "string"}
    });
    let format = json!({
        "name": "format", "in": "query", "required": false,
        "description": "Answer format; overrides Accept",
        "schema": {"type": "string", "enum": ["json", "csv", "arrow", "parquet"]}
    });
    let errors = |r: &mut Value| {
        r["400"] = error_response("Bad request (the message says what to change)");
        r["401"] = error_response("Missing or invalid bearer token");
        r["403"] = error_response("Refused: the server is read-only");
        r["504"] = error_response("The query ran past the server's time limit");
    };
    let mut rows_resp = json!({"200": tabular("Rows of the dataset")});
    errors(&mut rows_resp);
    rows_resp["404"] = error_response("No such dataset");
    let mut sql_resp = json!({"200": tabular("Result of the query")});
    errors(&mut sql_resp);
    sql_resp["406"] = error_response("Unsupported Accept");
    sql_resp["422"] = error_response("The query needs more memory than allowed");
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Open Collectivités lakehouse",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Read-only access to the lake: catalog, dataset rows with typed filters, SQL queries (DataFusion). JSON answers stop at the server's row limit; CSV, Arrow IPC stream and Parquet carry every row."
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]},
                "Column": {"type": "object", "properties": {
                    "name": {"type": "string"}, "type": {"type": "string", "description": "Arrow type, e.g. Decimal128(18, 2)"},
                    "nullable": {"type": "boolean"}, "doc": {"type": "string", "nullable": true}}},
                "Rows": {"type": "object", "properties": {
                    "columns": {"type": "array", "items": {"$ref": "#/components/schemas/Column"}},
                    "row_count": {"type": "integer"},
                    "truncated": {"type": "boolean", "description": "True when the JSON row limit cut the answer"},
                    "rows": {"type": "array", "items": {"type": "object"}}}},
                "DatasetSummary": {"type": "object", "properties": {
                    "id": {"type": "string"}, "kind": {"type": "string", "enum": ["table", "view"]},
                    "title": {"type": "string", "nullable": true}, "description": {"type": "string", "nullable": true},
                    "producer": {"type": "string", "nullable": true}, "licence": {"type": "string", "nullable": true},
                    "links": {"type": "object"}}},
                "Dataset": {"allOf": [{"$ref": "#/components/schemas/DatasetSummary"}, {"type": "object", "properties": {
                    "columns": {"type": "array", "items": {"$ref": "#/components/schemas/Column"}},
                    "rows": {"type": "integer", "nullable": true},
                    "versions": {"type": "array", "nullable": true, "description": "Delta versions (each a committed refresh), newest first",
                        "items": {"type": "object", "properties": {"version": {"type": "integer"}, "timestamp": {"type": "string"}, "operation": {"type": "string"}}}},
                    "freshness": {"type": "object", "nullable": true, "description": "Last successful run that wrote the dataset (_ops.runs)"}}}]}
            }
        },
        "security": [{"bearer": []}],
        "paths": {
            "/health": {"get": {
                "summary": "Liveness and what is served", "security": [],
                "responses": {"200": {"description": "The server is up", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
            "/openapi.json": {"get": {
                "summary": "This document", "security": [],
                "responses": {"200": {"description": "OpenAPI 3 document"}}}},
            "/datasets": {"get": {
                "summary": "Tables and views of the lake, with their documentation",
                "responses": {"200": {"description": "The catalog", "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"datasets": {"type": "array", "items": {"$ref": "#/components/schemas/DatasetSummary"}}}}}}},
                    "401": error_response("Missing or invalid bearer token")}}},
            "/datasets/{id}": {"get": {
                "summary": "Schema, documentation, Delta versions and freshness of one dataset",
                "parameters": [id.clone()],
                "responses": {"200": {"description": "The dataset", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Dataset"}}}},
                    "401": error_response("Missing or invalid bearer token"),
                    "404": error_response("No such dataset")}}},
            "/datasets/{id}/rows": {"get": {
                "summary": "Rows of a dataset, filtered with typed conditions",
                "parameters": [id,
                    {"name": "where", "in": "query", "required": false, "style": "form", "explode": true,
                     "description": "column:op:value, repeatable (AND). op: eq, ne, lt, le, gt, ge, in (values separated by |), like (text, % and _), null, notnull. The value is converted to the column's type (a bad value is a 400, never SQL).",
                     "schema": {"type": "array", "items": {"type": "string"}}, "example": "exercice:eq:2024"},
                    {"name": "limit", "in": "query", "required": false, "description": "Rows to return (JSON default 100, capped by the server's JSON row limit)", "schema": {"type": "integer", "minimum": 0}},
                    {"name": "offset", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0}},
                    {"name": "order", "in": "query", "required": false, "description": "Columns to sort by, comma-separated; -column for descending", "schema": {"type": "string"}},
                    {"name": "columns", "in": "query", "required": false, "description": "Columns to return, comma-separated", "schema": {"type": "string"}},
                    format.clone()],
                "responses": rows_resp}},
            "/sql": {"post": {
                "summary": "Run one read-only SQL query (DataFusion, Postgres dialect) over the lake's tables and views",
                "parameters": [format],
                "requestBody": {"required": true, "content": {
                    "text/plain": {"schema": {"type": "string"}, "example": "SELECT * FROM finances.balances_communes LIMIT 10"},
                    "application/json": {"schema": {"type": "object", "properties": {"sql": {"type": "string"}}, "required": ["sql"]}}}},
                "responses": sql_resp}}
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_route_is_described() {
        let d = super::document();
        for p in [
            "/health",
            "/openapi.json",
            "/datasets",
            "/datasets/{id}",
            "/datasets/{id}/rows",
            "/sql",
        ] {
            assert!(d["paths"][p].is_object(), "{p}");
        }
    }
}
