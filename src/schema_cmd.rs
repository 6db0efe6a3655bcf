//! `opencoll schema pipeline|catalog`: the JSON Schema of a pipeline file or of catalog.yaml,
//! for editors (see docs/catalog-and-cli.md).

use clap::ValueEnum;

#[derive(Clone, Copy, ValueEnum)]
pub enum Which {
    Pipeline,
    Catalog,
}

pub fn run(which: Which) {
    let schema = match which {
        Which::Pipeline => oc_spec::schema::pipeline(),
        Which::Catalog => oc_spec::schema::catalog(),
    };
    print!("{}", oc_spec::schema::to_text(&schema));
}
