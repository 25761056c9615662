//! What `serve` and `dispatch` plug into the dispatcher's seams: build logs stored by the
//! registry's batched [`LogWriter`] (SPEC §7.5), and the packer backend's files rendered by the
//! registry's Packer template (SPEC §7.4).

use futures_util::future::BoxFuture;

use super::{Job, LogSink, packer::Renderer};
use crate::registry::{
    logs::{LogWriter, NewLine},
    template,
};

/// The stream a line is stored under when the backend's name for it is not a valid one.
const OTHER_STREAM: &str = "backend";

/// Log lines handed to the build log's writer, which batches them (a backend's flood of lines
/// never waits on the database, SPEC §7.5).
#[derive(Clone)]
pub struct StoredLogs(pub LogWriter);

impl LogSink for StoredLogs {
    fn write<'a>(&'a self, build: i32, stream: &'a str, line: &'a str) -> BoxFuture<'a, ()> {
        let stream = if NewLine::valid_stream(stream) {
            stream
        } else {
            OTHER_STREAM
        };
        Box::pin(self.0.append(
            build,
            vec![NewLine {
                stream: stream.to_owned(),
                line: line.to_owned(),
            }],
        ))
    }
}

/// The packer backend's files: the HCL2 template of the build (its effective variables) and its
/// provisioner recipe's script, where the template runs it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Templates;

/// The template's file name in a build's working directory.
pub const TEMPLATE_FILE: &str = "template.pkr.hcl";

impl Renderer for Templates {
    fn render(&self, job: &Job) -> Result<Vec<(String, String)>, String> {
        let hcl = template::render(&job.definition, Some(&job.build))
            .map_err(|_| "cannot render the Packer template".to_owned())?;
        let recipe = job.definition.provisioner_recipe;
        Ok(vec![
            (TEMPLATE_FILE.to_owned(), hcl),
            (
                template::recipe_script(recipe),
                template::recipe_body(recipe).to_owned(),
            ),
        ])
    }
}
