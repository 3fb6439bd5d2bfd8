//! The Parquet format of the BI export (`/export/<entity>.parquet` and `crisisgraph export --format
//! parquet`), written with the Apache `parquet` crate's arrow writer. The schema comes from the entity's
//! declaration alone: each column's SQL type gives its Arrow type (text → Utf8, integer → Int32, bigint →
//! Int64, double → Float64, bool → Boolean, date → Date32, timestamp → Timestamp(µs, "UTC")), its
//! `nullable` whether it may be null, and its description goes in the field's metadata.
//!
//! Memory stays bounded however many rows are exported: each page of rows read from the store is
//! encoded at once into the row group in progress, a finished row group ([`ROW_GROUP`] rows) is
//! written out, and [`ParquetEncoder::write`] hands back the bytes written so far for the caller to
//! send (the HTTP body) or save (the CLI's file). Only one row group's encoded columns and one page of
//! rows are held at a time.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Float64Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::NaiveDate;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use store::bi::{Cell, Column, Entity, SqlType};

/// Rows per row group: readers (DuckDB, pandas, polars) parallelise over row groups, and the writer
/// holds one row group's encoded columns in memory.
pub const ROW_GROUP: usize = 65_536;

/// The media type of a Parquet file.
pub const CONTENT_TYPE: &str = "application/vnd.apache.parquet";

/// What can go wrong encoding rows (only a value that does not fit its declared type, or the
/// writer itself).
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("{entity}.{column}: {problem}")]
    Value { entity: &'static str, column: &'static str, problem: String },
    #[error("writing parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("building arrow arrays: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
}

/// The Arrow type of a declared column.
pub fn data_type(sql_type: SqlType) -> DataType {
    match sql_type {
        SqlType::Text => DataType::Utf8,
        SqlType::Integer => DataType::Int32,
        SqlType::BigInt => DataType::Int64,
        SqlType::Double => DataType::Float64,
        SqlType::Bool => DataType::Boolean,
        SqlType::Date => DataType::Date32,
        SqlType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
    }
}

/// The Arrow schema of an entity's export: its columns in declaration order, each with its
/// description in the field metadata (`description`).
pub fn schema(entity: &Entity) -> Schema {
    let fields: Vec<Field> = entity
        .columns
        .iter()
        .map(|c| {
            Field::new(c.name, data_type(c.sql_type), c.nullable)
                .with_metadata(HashMap::from([("description".to_string(), c.doc.to_string())]))
        })
        .collect();
    Schema::new(fields).with_metadata(HashMap::from([("description".to_string(), entity.doc.trim().to_string())]))
}

/// Streams an entity's rows into one Parquet file.
pub struct ParquetEncoder {
    entity: &'static Entity,
    schema: SchemaRef,
    writer: ArrowWriter<Vec<u8>>,
}

impl ParquetEncoder {
    pub fn new(entity: &'static Entity) -> Result<ParquetEncoder, EncodeError> {
        let schema = Arc::new(schema(entity));
        let properties = WriterProperties::builder()
            .set_max_row_group_row_count(Some(ROW_GROUP))
            .set_compression(Compression::SNAPPY)
            .set_created_by(format!("crisisgraph {}", env!("CARGO_PKG_VERSION")))
            .build();
        let writer = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(properties))?;
        Ok(ParquetEncoder { entity, schema, writer })
    }

    /// Adds rows (cells in the entity's column order); gives the bytes of the file written so far and
    /// not yet handed out (empty until a row group is finished).
    pub fn write(&mut self, rows: &[Vec<Cell>]) -> Result<Vec<u8>, EncodeError> {
        if !rows.is_empty() {
            let columns = self
                .entity
                .columns
                .iter()
                .enumerate()
                .map(|(i, column)| self.array(column, rows.iter().map(|row| row.get(i))))
                .collect::<Result<Vec<ArrayRef>, EncodeError>>()?;
            let batch = RecordBatch::try_new(self.schema.clone(), columns)?;
            self.writer.write(&batch)?;
        }
        Ok(std::mem::take(self.writer.inner_mut()))
    }

    /// Writes the last row group and the footer; gives the rest of the file.
    pub fn finish(mut self) -> Result<Vec<u8>, EncodeError> {
        self.writer.finish()?;
        Ok(std::mem::take(self.writer.inner_mut()))
    }

    /// One column of a page of rows as an Arrow array of the column's type.
    fn array<'a>(
        &self,
        column: &'static Column,
        cells: impl ExactSizeIterator<Item = Option<&'a Cell>>,
    ) -> Result<ArrayRef, EncodeError> {
        let wrong = |cell: Option<&Cell>| EncodeError::Value {
            entity: self.entity.export,
            column: column.name,
            problem: format!("{cell:?} is not a {:?}", column.sql_type),
        };
        let rows = cells.len();
        macro_rules! build {
            ($builder:expr, $pattern:pat => $value:expr) => {{
                let mut builder = $builder;
                for cell in cells {
                    match cell {
                        Some($pattern) => builder.append_option($value),
                        other => return Err(wrong(other)),
                    }
                }
                Arc::new(builder.finish()) as ArrayRef
            }};
        }
        let array = match column.sql_type {
            SqlType::Text => build!(StringBuilder::with_capacity(rows, rows * 16), Cell::Text(v) => v.as_deref()),
            SqlType::Integer => {
                let mut builder = Int32Builder::with_capacity(rows);
                for cell in cells {
                    match cell {
                        Some(Cell::Int(v)) => {
                            let value = v.map(i32::try_from).transpose().map_err(|_| EncodeError::Value {
                                entity: self.entity.export,
                                column: column.name,
                                problem: format!("{v:?} does not fit a 32-bit integer"),
                            })?;
                            builder.append_option(value);
                        }
                        other => return Err(wrong(other)),
                    }
                }
                Arc::new(builder.finish()) as ArrayRef
            }
            SqlType::BigInt => build!(Int64Builder::with_capacity(rows), Cell::Int(v) => *v),
            SqlType::Double => build!(Float64Builder::with_capacity(rows), Cell::Float(v) => *v),
            SqlType::Bool => build!(BooleanBuilder::with_capacity(rows), Cell::Bool(v) => *v),
            SqlType::Date => build!(Date32Builder::with_capacity(rows), Cell::Date(v) => v.map(days_since_epoch)),
            SqlType::Timestamp => build!(
                TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC"),
                Cell::Time(v) => v.map(|t| t.and_utc().timestamp_micros())
            ),
        };
        Ok(array)
    }
}

/// Arrow's Date32: days since 1970-01-01.
fn days_since_epoch(date: NaiveDate) -> i32 {
    use chrono::Datelike;
    /// 1970-01-01 counted from 0001-01-01 (day 1).
    const EPOCH_FROM_CE: i32 = 719_163;
    date.num_days_from_ce() - EPOCH_FROM_CE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_count_days_from_1970() {
        assert_eq!(NaiveDate::from_ymd_opt(1970, 1, 1).map(days_since_epoch), Some(0));
        assert_eq!(NaiveDate::from_ymd_opt(2024, 3, 1).map(days_since_epoch), Some(19_783));
        assert_eq!(NaiveDate::from_ymd_opt(1969, 12, 31).map(days_since_epoch), Some(-1));
    }

    /// Every entity's schema builds and the writer accepts it, with the declared types.
    #[test]
    fn every_entity_has_a_parquet_schema() {
        for entity in store::BI_ENTITIES {
            let schema = schema(entity);
            assert_eq!(schema.fields().len(), entity.columns.len());
            for (field, column) in schema.fields().iter().zip(entity.columns) {
                assert_eq!(field.name(), column.name);
                assert_eq!(field.data_type(), &data_type(column.sql_type));
                assert_eq!(field.is_nullable(), column.nullable);
            }
            let encoder = ParquetEncoder::new(entity);
            assert!(encoder.is_ok(), "{}: {:?}", entity.export, encoder.err());
            let file = encoder.and_then(ParquetEncoder::finish);
            assert!(file.as_ref().is_ok_and(|f| f.starts_with(b"PAR1") && f.ends_with(b"PAR1")), "{}", entity.export);
        }
    }

    /// A cell of a column's type, made up (the `i`th row).
    fn made_up(sql_type: SqlType, i: usize) -> Cell {
        match sql_type {
            SqlType::Text => Cell::Text(Some(format!("text {i}"))),
            SqlType::Integer | SqlType::BigInt => Cell::Int(Some(i as i64)),
            SqlType::Double => Cell::Float(Some(i as f64 / 2.0)),
            SqlType::Bool => Cell::Bool(Some(i.is_multiple_of(2))),
            SqlType::Date => Cell::Date(NaiveDate::from_ymd_opt(2020, 1, 1)),
            SqlType::Timestamp => Cell::Time(NaiveDate::from_ymd_opt(2020, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0))),
        }
    }

    /// Row groups leave the encoder as soon as they are full: what it holds never grows past one
    /// row group, however many rows go through; the file reads back whole.
    #[test]
    fn finished_row_groups_are_handed_out_at_once() {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let entity = store::bi::entity("population").expect("population");
        let mut encoder = ParquetEncoder::new(entity).expect("encoder");
        let (mut file, mut rows, mut largest_held) = (Vec::new(), 0usize, 0usize);
        for page in 0..40 {
            let page: Vec<Vec<Cell>> = (0..5_000)
                .map(|i| entity.columns.iter().map(|c| made_up(c.sql_type, page * 5_000 + i)).collect())
                .collect();
            let out = encoder.write(&page).expect("write");
            rows += page.len();
            if rows > ROW_GROUP {
                assert!(!file.is_empty() || !out.is_empty(), "the first row group was handed out");
            }
            file.extend(out);
            largest_held = largest_held.max(encoder.writer.in_progress_rows());
        }
        assert!(largest_held < ROW_GROUP, "{largest_held} rows held");
        let before_footer = file.len();
        file.extend(encoder.finish().expect("finish"));
        assert!(before_footer > file.len() / 2, "most of the file left before the end");
        let reader = SerializedFileReader::new(actix_web::web::Bytes::from(file)).expect("a Parquet file");
        let metadata = reader.metadata();
        assert_eq!(metadata.file_metadata().num_rows(), 200_000);
        assert_eq!(metadata.num_row_groups(), 200_000usize.div_ceil(ROW_GROUP));
    }
}
