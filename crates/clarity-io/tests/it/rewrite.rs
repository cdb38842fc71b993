//! Files dicom-rs alone cannot parse and pydicom reads (`dicom::rewrite`): UN elements of
//! undefined length (implicit-VR sequences inside explicit-VR files) and meta groups without
//! their group length. The corpus's two such files against pydicom's reading, and real images
//! given either fault against the same images without it.

use std::path::Path;

use clarity_io::dicom::{self, SeriesOptions};
use dicom_core::Tag;

use crate::common::shared_data;

/// Implicit VR little endian element.
fn implicit(group: u16, element: u16, value: &[u8]) -> Vec<u8> {
    let mut out = [group.to_le_bytes(), element.to_le_bytes()].concat();
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(value);
    out
}

const ITEM: [u8; 8] = [0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF];
const ITEM_END: [u8; 8] = [0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0];
const SEQUENCE_END: [u8; 8] = [0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0];

/// A private block (0009,0010) "CLARITY TEST" and (0009,1010), an UN of undefined length
/// holding one implicit-VR item as a converter that did not know the tag writes it: two UIDs,
/// a Referenced SOP Sequence of defined length (an item of defined length in it), and a
/// 70 000-byte private value (too long for a 16-bit explicit length).
fn private_un_sequence() -> Vec<u8> {
    let mut out = vec![0x09, 0x00, 0x10, 0x00, b'L', b'O', 12, 0];
    out.extend_from_slice(b"CLARITY TEST");
    out.extend_from_slice(&[0x09, 0x00, 0x10, 0x10, b'U', b'N', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
    out.extend_from_slice(&ITEM);
    out.extend_from_slice(&implicit(0x0008, 0x1150, b"1.2.840.10008.5.1.4.1.1.4\0"));
    out.extend_from_slice(&implicit(0x0008, 0x1155, b"1.2.3.4.5.6\0"));
    let sop = implicit(0x0008, 0x1155, b"1.2.3.4.5.7\0");
    let mut item = vec![0xFE, 0xFF, 0x00, 0xE0];
    item.extend_from_slice(&(sop.len() as u32).to_le_bytes());
    item.extend_from_slice(&sop);
    out.extend_from_slice(&implicit(0x0008, 0x1199, &item));
    out.extend_from_slice(&implicit(0x0009, 0x1020, &vec![7u8; 70_000]));
    out.extend_from_slice(&ITEM_END);
    out.extend_from_slice(&SEQUENCE_END);
    out
}

/// `file` (explicit VR little endian, no sequence before group 0010) with
/// [`private_un_sequence`] inserted where group 0009 belongs.
fn with_private_un_sequence(file: &[u8]) -> Vec<u8> {
    let u32_at = |at: usize| u32::from_le_bytes(file[at..at + 4].try_into().unwrap()) as usize;
    assert_eq!(&file[128..132], b"DICM");
    assert_eq!(&file[132..138], &[0x02, 0x00, 0x00, 0x00, b'U', b'L']);
    let mut at = 144 + u32_at(140);
    loop {
        let group = u16::from_le_bytes([file[at], file[at + 1]]);
        if group >= 0x0009 {
            break;
        }
        let vr = &file[at + 4..at + 6];
        let long = [&b"OB"[..], b"OW", b"SQ", b"UN", b"UT", b"UC", b"UR", b"OF", b"OD", b"OL"];
        at += if long.contains(&vr) {
            let len = u32_at(at + 8);
            assert_ne!(len, u32::MAX as usize, "undefined length before group 0009");
            12 + len
        } else {
            8 + u16::from_le_bytes([file[at + 6], file[at + 7]]) as usize
        };
    }
    [&file[..at], &private_un_sequence(), &file[at..]].concat()
}

/// Explicit VR little endian element with a 16-bit length.
fn element(group: u16, element: u16, vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
    let mut out = [group.to_le_bytes(), element.to_le_bytes()].concat();
    out.extend_from_slice(vr);
    out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    out.extend_from_slice(value);
    out
}

/// A file (meta group with its group length) whose data set is `elements`, explicit VR little
/// endian.
fn file(elements: &[u8]) -> Vec<u8> {
    let mut meta = element(0x0002, 0x0002, b"UI", b"1.2.840.10008.5.1.4.1.1.4\0");
    meta.extend_from_slice(&element(0x0002, 0x0003, b"UI", b"1.2.3.4.5\0"));
    meta.extend_from_slice(&element(0x0002, 0x0010, b"UI", b"1.2.840.10008.1.2.1\0"));
    let mut out = vec![0u8; 128];
    out.extend_from_slice(b"DICM");
    out.extend_from_slice(&element(0x0002, 0x0000, b"UL", &(meta.len() as u32).to_le_bytes()));
    out.extend_from_slice(&meta);
    out.extend_from_slice(elements);
    out
}

/// Modality, the private UN sequence, Patient's Name.
fn small_file() -> Vec<u8> {
    let mut data = element(0x0008, 0x0060, b"CS", b"MR");
    data.extend_from_slice(&private_un_sequence());
    data.extend_from_slice(&element(0x0010, 0x0010, b"PN", b"Doe^Jo"));
    file(&data)
}

#[test]
fn an_un_sequence_of_undefined_length_is_read_as_implicit_vr_items() {
    let bytes = small_file();
    assert!(
        dicom_object::OpenFileOptions::new().from_reader(&bytes[..]).is_err(),
        "dicom-rs alone reads the implicit item as explicit VR and fails"
    );
    let obj = dicom::header::open_bytes(Path::new("small.dcm"), &bytes).unwrap();
    let items = obj.element(Tag(0x0009, 0x1010)).unwrap().items().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].element(Tag(0x0008, 0x1155)).unwrap().to_str().unwrap(), "1.2.3.4.5.6");
    let nested = items[0].element(Tag(0x0008, 0x1199)).unwrap().items().unwrap();
    assert_eq!(nested[0].element(Tag(0x0008, 0x1155)).unwrap().to_str().unwrap(), "1.2.3.4.5.7");
    assert_eq!(items[0].element(Tag(0x0009, 0x1020)).unwrap().to_bytes().unwrap().len(), 70_000);
    // What follows the sequence is read as before.
    assert_eq!(obj.element(Tag(0x0010, 0x0010)).unwrap().to_str().unwrap(), "Doe^Jo");
}

#[test]
fn un_sequences_that_cannot_be_followed_are_errors_naming_the_file() {
    let bytes = small_file();
    let data_set = bytes.len() - private_un_sequence().len() - 24;
    // Cut inside the sequence, or inside its delimiter.
    for cut in [data_set + 20, data_set + 40, bytes.len() - 20, bytes.len() - 17] {
        let err = dicom::header::open_bytes(Path::new("cut.dcm"), &bytes[..cut]).unwrap_err();
        assert!(err.to_string().contains("cut.dcm"), "cut at {cut}: {err}");
    }
    // Nested 40 deep (a private tag of undefined length in implicit VR is a sequence): past
    // the rewrite's bound, an error rather than a deep recursion.
    let nest = |depth: usize| {
        let mut data = vec![0x09, 0x00, 0x10, 0x10, b'U', b'N', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF];
        data.extend_from_slice(&ITEM);
        for _ in 0..depth {
            data.extend_from_slice(&[0x09, 0x00, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF]);
            data.extend_from_slice(&ITEM);
        }
        for _ in 0..=depth {
            data.extend_from_slice(&ITEM_END);
            data.extend_from_slice(&SEQUENCE_END);
        }
        file(&data)
    };
    assert!(dicom::header::open_bytes(Path::new("deep.dcm"), &nest(40)).is_err());
    let obj = dicom::header::open_bytes(Path::new("nested.dcm"), &nest(8)).unwrap();
    let mut items = obj.element(Tag(0x0009, 0x1010)).unwrap().items().unwrap().to_vec();
    for _ in 0..8 {
        items = items[0].element(Tag(0x0009, 0x1010)).unwrap().items().unwrap().to_vec();
    }
    assert_eq!(items.len(), 1);
}

#[test]
fn the_corpus_un_sequence_reads_as_pydicom_reads_it() {
    let Some(data) = shared_data() else { return };
    let path = data.join("dicom/pydicom/UN_sequence.dcm");
    // dicom-rs alone reads the sequence's implicit-VR items as explicit VR: a 3.7 GB length.
    let header = dicom::header::open(&path, false).expect("the rewritten sequence parses");
    // pydicom: (4453,100C) > (0008,1115) Referenced Series Sequence > (0020,000E).
    let outer = header.element(Tag(0x4453, 0x100C)).unwrap().items().unwrap();
    let series = outer[0].element(Tag(0x0008, 0x1115)).unwrap().items().unwrap();
    let uid = series[0].element(Tag(0x0020, 0x000E)).unwrap().to_str().unwrap();
    assert_eq!(uid, "1.2.840.113619.2.327.3.185221411.476.1398588726.276");
    let study = outer[0].element(Tag(0x0020, 0x000D)).unwrap().to_str().unwrap();
    assert_eq!(study, "1.2.840.113619.2.327.3.185221411.476.1398588725.795");
    let sop = series[0].element(Tag(0x0008, 0x1199)).unwrap().items().unwrap();
    let instance = sop[0].element(Tag(0x0008, 0x1155)).unwrap().to_str().unwrap();
    assert_eq!(instance, "1.2.840.113619.2.327.3.185221411.476.1398588726.278.80");
    // A file with no pixel data: a non-image file to a folder scan, not an error.
    let report = dicom::scan(&path, SeriesOptions::default()).unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.non_images.len(), 1);
}

/// Copy `from`'s files into `to`, each with the private UN sequence inserted.
fn copy_with_un_sequences(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let bytes = with_private_un_sequence(&std::fs::read(&path).unwrap());
        std::fs::write(to.join(path.file_name().unwrap()), bytes).unwrap();
    }
}

#[test]
fn images_carrying_an_un_sequence_read_as_without_it() {
    let Some(data) = shared_data() else { return };
    // A 20-slice native series: same grid, same voxels.
    let series = data.join("dicom/series/mr_brain_20");
    let dir = tempfile::tempdir().unwrap();
    copy_with_un_sequences(&series, dir.path());
    let one = std::fs::read_dir(dir.path()).unwrap().next().unwrap().unwrap().path();
    let bytes = std::fs::read(&one).unwrap();
    assert!(
        dicom_object::OpenFileOptions::new().from_reader(&bytes[..]).is_err(),
        "dicom-rs alone reads the copy: the test would check nothing"
    );
    let original = dicom::read_series(&series, SeriesOptions::default()).unwrap();
    let copy = dicom::read_series(dir.path(), SeriesOptions::default()).unwrap();
    assert_eq!(copy.dims, original.dims);
    assert_eq!(copy.spacing_mm, original.spacing_mm);
    assert_eq!(copy.origin_mm, original.origin_mm);
    assert_eq!(copy.direction, original.direction);
    assert!(copy.data == original.data, "voxels differ");
    // The sequence's content, rewritten as explicit VR.
    let header = dicom::header::open(&one, false).unwrap();
    let items = header.element(Tag(0x0009, 0x1010)).unwrap().items().unwrap();
    let nested = items[0].element(Tag(0x0008, 0x1199)).unwrap().items().unwrap();
    assert_eq!(nested[0].element(Tag(0x0008, 0x1155)).unwrap().to_str().unwrap(), "1.2.3.4.5.7");
    assert_eq!(items[0].element(Tag(0x0009, 0x1020)).unwrap().to_bytes().unwrap().len(), 70_000);

    // Encapsulated (RLE) pixel data after it: the same decode.
    let rle = data.join("dicom/pydicom/MR_small_RLE.dcm");
    let copied = dir.path().join("rle.dcm");
    std::fs::write(&copied, with_private_un_sequence(&std::fs::read(&rle).unwrap())).unwrap();
    let (theirs, ours) = (dicom::decode_file(&rle).unwrap(), dicom::decode_file(&copied).unwrap());
    assert_eq!(ours.shape(), theirs.shape());
    assert!(ours.values == theirs.values, "RLE pixels differ");
}

/// `file` without its meta group length (0002,0000), as some writers leave it out.
fn without_meta_group_length(file: &[u8]) -> Vec<u8> {
    assert_eq!(&file[132..138], &[0x02, 0x00, 0x00, 0x00, b'U', b'L']);
    [&file[..132], &file[144..]].concat()
}

#[test]
fn a_meta_group_without_its_length_reads_as_pydicom_reads_it() {
    let Some(data) = shared_data() else { return };
    let path = data.join("dicom/pydicom/no_meta_group_length.dcm");
    let header = dicom::header::open(&path, false).expect("the meta group's length supplied");
    // pydicom: Image Type ['ORIGINAL', 'PRIMARY', 'PORTAL'], Instance Creation Date 20111130.
    let image_type = header.element(Tag(0x0008, 0x0008)).unwrap().to_multi_str().unwrap();
    assert_eq!(image_type.as_ref(), ["ORIGINAL", "PRIMARY", "PORTAL"]);
    assert_eq!(header.element(Tag(0x0008, 0x0012)).unwrap().to_str().unwrap(), "20111130");
    let report = dicom::scan(&path, SeriesOptions::default()).unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.non_images.len(), 1);

    // Images without it decode as with it: native (a series), JPEG 2000, and RLE with a UN
    // sequence too (both faults in one file).
    let dir = tempfile::tempdir().unwrap();
    let series = data.join("dicom/series/mr_brain_20");
    for entry in std::fs::read_dir(&series).unwrap() {
        let path = entry.unwrap().path();
        let bytes = without_meta_group_length(&std::fs::read(&path).unwrap());
        std::fs::write(dir.path().join(path.file_name().unwrap()), bytes).unwrap();
    }
    let original = dicom::read_series(&series, SeriesOptions::default()).unwrap();
    let copy = dicom::read_series(dir.path(), SeriesOptions::default()).unwrap();
    assert_eq!((copy.dims, copy.origin_mm), (original.dims, original.origin_mm));
    assert!(copy.data == original.data, "voxels differ");
    let j2k = data.join("dicom/pydicom/JPEG2000.dcm");
    let rle = data.join("dicom/pydicom/MR_small_RLE.dcm");
    let j2k_bytes = without_meta_group_length(&std::fs::read(&j2k).unwrap());
    let rle_bytes =
        without_meta_group_length(&with_private_un_sequence(&std::fs::read(&rle).unwrap()));
    for (source, bytes) in [(j2k, j2k_bytes), (rle, rle_bytes)] {
        assert!(
            dicom_object::OpenFileOptions::new().from_reader(&bytes[..]).is_err(),
            "dicom-rs alone reads {}: the test would check nothing",
            source.display()
        );
        let copied = dir.path().join("copy.dcm");
        std::fs::write(&copied, &bytes).unwrap();
        let theirs = dicom::decode_file(&source).unwrap();
        let ours = dicom::decode_file(&copied).unwrap();
        assert_eq!(ours.shape(), theirs.shape());
        assert!(ours.values == theirs.values, "{} pixels differ", source.display());
    }
}
