//! Copies of a DICOM file with two encoding faults fixed that dicom-rs cannot read past and
//! pydicom reads: a meta group without its group length, and sequences stored as UN of
//! undefined length. [`repaired_copy`] applies both; `open` parses the copy (walked first, like
//! any file) only after the file itself failed to parse.
//!
//! **Meta group without (0002,0000).** The group length is required, but some writers leave it
//! out (the shared corpus's `no_meta_group_length.dcm`); dicom-rs then stops at the first meta
//! element. The copy has one, computed from the group-2 elements that follow "DICM".
//!
//! **UN of undefined length.** A tool that converts an implicit-VR file to explicit VR without
//! knowing a tag (a private sequence, or a standard one newer than its dictionary) writes it as
//! UN. When its length is undefined, the standard (PS3.5 §6.2.2, from CP-246) says its value is
//! a sequence encoded in implicit VR little endian, whatever the file's transfer syntax; pydicom
//! reads it so. dicom-rs reads it as a sequence but goes on decoding its contents as explicit
//! VR, so the first element inside is read with a made-up VR and length (the shared corpus's
//! `UN_sequence.dcm`: a 3.7 GB claim, 4 s and 3.7 GB of memory before the error), and the whole
//! file is lost, pixels and all. The copy has every such element rewritten as an explicit-VR
//! sequence (VR from the standard dictionary, UN for private and unknown tags; defined lengths
//! of the items and sequences around it recomputed). Only explicit VR little endian data sets
//! are rewritten; anything the copy does not understand gives up (None) and the caller keeps
//! its error.
//!
//! Tested in `tests/it/rewrite.rs` through [`super::header::open_bytes`].

use super::walk::{implicit_vr, LONG_VRS, PIXEL_DATA, SHORT_VRS, UNDEFINED};

/// Sequences nested deeper give up: a damaged file could otherwise nest until the stack ends.
const MAX_DEPTH: usize = 32;

/// `file` (preamble, "DICM", meta group, data set) with the faults of the module page fixed;
/// None when it has neither, or they cannot be fixed.
pub(crate) fn repaired_copy(file: &[u8]) -> Option<Vec<u8>> {
    let with_length = with_meta_group_length(file);
    explicit_copy(with_length.as_deref().unwrap_or(file)).or(with_length)
}

/// `file` with a group length (0002,0000) put first in its meta group, when the group has
/// none; None otherwise.
fn with_meta_group_length(file: &[u8]) -> Option<Vec<u8>> {
    if file.get(128..132)? != b"DICM" || file.get(132..136)? == [0x02, 0x00, 0x00, 0x00] {
        return None;
    }
    let mut end = 132;
    while file.get(end..end + 2)? == [0x02, 0x00] {
        let (_, value_at, len) = explicit_element(file, end)?;
        end = value_at.checked_add(len).filter(|&e| e <= file.len())?;
    }
    let group_length = u32::try_from(end.checked_sub(132).filter(|&l| l > 0)?).ok()?;
    let mut out = Vec::with_capacity(file.len() + 12);
    out.extend_from_slice(&file[..132]);
    out.extend_from_slice(&[0x02, 0x00, 0x00, 0x00, b'U', b'L', 4, 0]);
    out.extend_from_slice(&group_length.to_le_bytes());
    out.extend_from_slice(&file[132..]);
    Some(out)
}

/// The explicit-VR little endian element at `at` in `bytes`: its tag bytes, where its value
/// starts and its length.
fn explicit_element(bytes: &[u8], at: usize) -> Option<([u8; 4], usize, usize)> {
    let header = bytes.get(at..at.checked_add(8)?)?;
    let tag = [header[0], header[1], header[2], header[3]];
    let vr = [header[4], header[5]];
    if SHORT_VRS.contains(&&vr) {
        return Some((tag, at + 8, u16::from_le_bytes([header[6], header[7]]) as usize));
    }
    let len = bytes.get(at + 8..at + 12)?;
    Some((tag, at + 12, u32::from_le_bytes(len.try_into().ok()?) as usize))
}

/// `file` (preamble, "DICM", meta group, explicit VR little endian data set) with every UN
/// element of undefined length rewritten as an explicit-VR sequence; None when there is none,
/// the data set is in another encoding, or its structure cannot be followed.
fn explicit_copy(file: &[u8]) -> Option<Vec<u8>> {
    // The meta group as dicom-rs reads it: a copy whose meta group it cannot read would not
    // parse either.
    let (meta, start) = super::open::meta_group(file)?;
    // Encapsulated syntaxes are explicit VR little endian too; implicit VR has no UN to fix,
    // and big-endian and deflated data sets are too rare to be worth a copy of this code.
    let ts = meta.transfer_syntax().trim_end_matches(['\0', ' ']);
    let explicit_le = ts == "1.2.840.10008.1.2.1"
        || ts.starts_with("1.2.840.10008.1.2.4.")
        || ts.starts_with("1.2.840.10008.1.2.5");
    if !explicit_le {
        return None;
    }
    let mut copy = Copy { src: file, pos: start, out: file.get(..start)?.to_vec(), changed: false };
    copy.elements(Level::Top, true, 0)?;
    copy.changed.then_some(copy.out)
}

/// Where a run of elements ends.
#[derive(Clone, Copy)]
enum Level {
    /// The data set: at the end of the file.
    Top,
    /// An item of defined length: at this offset.
    EndsAt(usize),
    /// An item of undefined length: at its Item Delimitation Item (copied).
    Delimited,
}

struct Copy<'a> {
    src: &'a [u8],
    pos: usize,
    out: Vec<u8>,
    /// Whether an UN sequence was rewritten.
    changed: bool,
}

impl Copy<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let bytes = self.src.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(bytes)
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn put_tag(&mut self, (group, element): (u16, u16)) {
        self.out.extend_from_slice(&group.to_le_bytes());
        self.out.extend_from_slice(&element.to_le_bytes());
    }

    /// Copy `n` bytes of value unchanged.
    fn copy(&mut self, n: usize) -> Option<()> {
        let bytes = self.src.get(self.pos..self.pos.checked_add(n)?)?;
        self.out.extend_from_slice(bytes);
        self.pos += n;
        Some(())
    }

    /// Where a defined length will be written once the content after it is known.
    fn length_placeholder(&mut self) -> usize {
        self.out.extend_from_slice(&[0; 4]);
        self.out.len()
    }

    /// Write the length of everything written since `placeholder`.
    fn patch_length(&mut self, placeholder: usize) -> Option<()> {
        let len = u32::try_from(self.out.len() - placeholder).ok().filter(|&l| l != UNDEFINED)?;
        self.out[placeholder - 4..placeholder].copy_from_slice(&len.to_le_bytes());
        Some(())
    }

    /// Copy elements (explicit or implicit VR in, explicit VR out) to the end of `level`.
    fn elements(&mut self, level: Level, explicit: bool, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        loop {
            match level {
                Level::Top if self.pos == self.src.len() => return Some(()),
                Level::EndsAt(end) if self.pos >= end => return (self.pos == end).then_some(()),
                _ => {}
            }
            let tag = (self.u16()?, self.u16()?);
            if tag.0 == 0xFFFE {
                // No VR, a 32-bit length. Only an item's end belongs here.
                let len = self.u32()?;
                if tag.1 != 0xE00D || len != 0 {
                    return None;
                }
                self.put_tag(tag);
                self.out.extend_from_slice(&[0; 4]);
                match level {
                    Level::Delimited => return Some(()),
                    // A stray delimiter, which the parser skips.
                    _ => continue,
                }
            }
            let (vr, len) = if explicit {
                let vr: [u8; 2] = self.take(2)?.try_into().ok()?;
                if SHORT_VRS.contains(&&vr) {
                    (vr, self.u16()? as u32)
                } else if LONG_VRS.contains(&&vr) {
                    self.u16()?;
                    (vr, self.u32()?)
                } else {
                    return None;
                }
            } else {
                let len = self.u32()?;
                (implicit_vr(tag).unwrap_or(*b"UN"), len)
            };
            if len == UNDEFINED {
                self.put_tag(tag);
                if tag == PIXEL_DATA && explicit {
                    self.out.extend_from_slice(b"OB\0\0");
                    self.out.extend_from_slice(&UNDEFINED.to_le_bytes());
                    self.fragments()?;
                    if let Level::Top = level {
                        // The parser stops after the pixel data: copy what follows as it is.
                        self.copy(self.src.len() - self.pos)?;
                        return Some(());
                    }
                    continue;
                }
                // A sequence. An UN's items are implicit VR (the standard's rule); so are an
                // implicit sequence's.
                let items_explicit = explicit && &vr != b"UN";
                self.changed |= explicit && &vr == b"UN";
                self.out.extend_from_slice(b"SQ\0\0");
                self.out.extend_from_slice(&UNDEFINED.to_le_bytes());
                self.items(None, items_explicit, depth + 1)?;
                continue;
            }
            let len = len as usize;
            if &vr == b"SQ" {
                self.put_tag(tag);
                self.out.extend_from_slice(b"SQ\0\0");
                let at = self.length_placeholder();
                let end = self.pos.checked_add(len)?;
                self.items(Some(end), explicit, depth + 1)?;
                self.patch_length(at)?;
                continue;
            }
            self.put_tag(tag);
            if SHORT_VRS.contains(&&vr) && len <= 0xFFFF {
                self.out.extend_from_slice(&vr);
                self.out.extend_from_slice(&(len as u16).to_le_bytes());
            } else {
                // A value too long for a short VR's 16-bit length stays bytes.
                let vr = if SHORT_VRS.contains(&&vr) { *b"UN" } else { vr };
                self.out.extend_from_slice(&vr);
                self.out.extend_from_slice(&[0, 0]);
                self.out.extend_from_slice(&(len as u32).to_le_bytes());
            }
            self.copy(len)?;
            if tag == PIXEL_DATA {
                if let Level::Top = level {
                    self.copy(self.src.len() - self.pos)?;
                    return Some(());
                }
            }
        }
    }

    /// Copy a sequence's items up to its end: `end` for a defined length, else its Sequence
    /// Delimitation Item (copied).
    fn items(&mut self, end: Option<usize>, explicit: bool, depth: usize) -> Option<()> {
        loop {
            if let Some(end) = end {
                if self.pos >= end {
                    return (self.pos == end).then_some(());
                }
            }
            let tag = (self.u16()?, self.u16()?);
            let len = self.u32()?;
            match tag {
                (0xFFFE, 0xE0DD) if end.is_none() => {
                    self.put_tag(tag);
                    self.out.extend_from_slice(&[0; 4]);
                    return Some(());
                }
                (0xFFFE, 0xE000) if len == UNDEFINED => {
                    self.put_tag(tag);
                    self.out.extend_from_slice(&UNDEFINED.to_le_bytes());
                    self.elements(Level::Delimited, explicit, depth)?;
                }
                (0xFFFE, 0xE000) => {
                    self.put_tag(tag);
                    let at = self.length_placeholder();
                    let item_end = self.pos.checked_add(len as usize)?;
                    self.elements(Level::EndsAt(item_end), explicit, depth)?;
                    self.patch_length(at)?;
                }
                _ => return None,
            }
        }
    }

    /// Copy encapsulated pixel data's fragments through its Sequence Delimitation Item.
    fn fragments(&mut self) -> Option<()> {
        loop {
            let tag = (self.u16()?, self.u16()?);
            let len = self.u32()?;
            self.put_tag(tag);
            self.out.extend_from_slice(&len.to_le_bytes());
            match tag {
                (0xFFFE, 0xE0DD) => return Some(()),
                (0xFFFE, 0xE000) if len != UNDEFINED => self.copy(len as usize)?,
                _ => return None,
            }
        }
    }
}
