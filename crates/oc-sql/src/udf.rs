//! Domain SQL functions: `insee_from_dgfip(ndept, rank)`, `dep_from_dgfip(ndept)`.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringArray, StringBuilder};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

use crate::codes;

pub fn register(ctx: &SessionContext) {
    for f in functions() {
        ctx.register_udf(f);
    }
}

/// Our functions, for sessions and for the codec that names them to remote executors whose
/// registries do not know them.
pub fn functions() -> [ScalarUDF; 2] {
    [
        ScalarUDF::new_from_impl(CodeFn::new("insee_from_dgfip", 2)),
        ScalarUDF::new_from_impl(CodeFn::new("dep_from_dgfip", 1)),
    ]
}

/// One of [`functions`], by its SQL name.
pub fn by_name(name: &str) -> Option<ScalarUDF> {
    functions().into_iter().find(|f| f.name() == name)
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct CodeFn {
    name: &'static str,
    arity: usize,
    signature: Signature,
}

impl CodeFn {
    fn new(name: &'static str, arity: usize) -> Self {
        Self {
            name,
            arity,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    fn apply(&self, args: &[Option<&str>]) -> Option<String> {
        match (self.name, args) {
            ("insee_from_dgfip", [Some(d), Some(r)]) => codes::insee_from_dgfip(d, r),
            ("dep_from_dgfip", [Some(d)]) => codes::dep_from_dgfip(d),
            _ => None,
        }
    }
}

impl ScalarUDFImpl for CodeFn {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    /// Codes are text, but DGFiP ranks and départements often arrive as numbers: accept any
    /// type and cast to text.
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != self.arity {
            return datafusion::common::plan_err!(
                "{} takes {} arguments, got {}",
                self.name,
                self.arity,
                arg_types.len()
            );
        }
        Ok(vec![DataType::Utf8; self.arity])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|a| Ok(cast(&a.to_array(n)?, &DataType::Utf8)?))
            .collect::<Result<_>>()?;
        let strs: Vec<&StringArray> = arrays
            .iter()
            .map(|a| a.as_any().downcast_ref().expect("utf8"))
            .collect();
        let rows = if all_scalar { 1 } else { n };
        let mut out = StringBuilder::with_capacity(rows, rows * 5);
        let mut vals = Vec::with_capacity(strs.len());
        // Rows come grouped (one budget's accounts in a row): reuse the previous result when
        // the arguments repeat instead of rebuilding the code.
        let mut last: Option<(Vec<Option<&str>>, Option<String>)> = None;
        for i in 0..rows {
            vals.clear();
            vals.extend(strs.iter().map(|s| s.is_valid(i).then(|| s.value(i))));
            match &last {
                Some((args, value)) if *args == vals => out.append_option(value.as_deref()),
                _ => {
                    let value = self.apply(&vals);
                    out.append_option(value.as_deref());
                    last = Some((vals.clone(), value));
                }
            }
        }
        let arr = Arc::new(out.finish());
        if all_scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
                arr.as_ref(),
                0,
            )?))
        } else {
            Ok(ColumnarValue::Array(arr))
        }
    }
}
