//! Files read whole with a cap, into memory wiped on drop: private key files and the key
//! server's TLS files. A longer file (a path given by mistake: `/dev/zero`, a log) is refused
//! after reading at most its cap and one byte.

use std::io::{self, Read as _};
use std::path::Path;

use zeroize::Zeroizing;

/// How [`read_capped`] sizes its buffer.
#[derive(Clone, Copy)]
pub(crate) enum Buffer {
    /// As the file says it is long: for public data (a certificate chain).
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    SizedByTheFile,
    /// The whole cap, whatever the file says: for a key, so that no reallocation leaves a copy
    /// behind (a pipe or `/proc` file reports no length).
    WholeCap,
}

/// The bytes of the file at `path`, or `None` when it holds more than `max`.
pub(crate) fn read_capped(path: &Path, max: usize, buffer: Buffer) -> io::Result<Option<Zeroizing<Vec<u8>>>> {
    let file = std::fs::File::open(path)?;
    let capacity = match buffer {
        Buffer::SizedByTheFile => usize::try_from(file.metadata()?.len()).unwrap_or(max).min(max) + 1,
        Buffer::WholeCap => max + 1,
    };
    let mut bytes = Zeroizing::new(Vec::with_capacity(capacity));
    file.take(max as u64 + 1).read_to_end(&mut bytes)?;
    Ok((bytes.len() <= max).then_some(bytes))
}
