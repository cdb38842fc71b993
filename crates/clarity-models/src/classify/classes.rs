//! The classifier's ten classes: the nine liver mpMRI series of `clarity_mr::exam::SeriesClass`
//! plus `other` (anything else: a brain T1, a CT, a low-b DWI, a localiser).

use clarity_mr::exam::SeriesClass;
use serde::{Deserialize, Serialize};

/// A series class; [`Class::id`] is the id used in JSON, CSV and model cards (and how it
/// serialises).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    Liver(SeriesClass),
    Other,
}

/// Number of classes (the network's outputs).
pub const N_CLASSES: usize = 10;

impl Class {
    /// All classes in output order: the nine liver classes, then `other`.
    pub fn all() -> [Class; N_CLASSES] {
        let mut out = [Class::Other; N_CLASSES];
        for (o, c) in out.iter_mut().zip(SeriesClass::ALL) {
            *o = Class::Liver(c);
        }
        out
    }

    pub fn index(self) -> usize {
        match self {
            Class::Liver(c) => SeriesClass::ALL.iter().position(|&x| x == c).expect("listed"),
            Class::Other => N_CLASSES - 1,
        }
    }

    pub fn from_index(i: usize) -> Class {
        Self::all()[i.min(N_CLASSES - 1)]
    }

    pub fn id(self) -> &'static str {
        match self {
            Class::Liver(c) => c.id(),
            Class::Other => "other",
        }
    }

    pub fn from_id(id: &str) -> Option<Class> {
        match id.trim() {
            "other" => Some(Class::Other),
            s => SeriesClass::from_id(s).map(Class::Liver),
        }
    }

    /// The ids in output order.
    pub fn ids() -> Vec<&'static str> {
        Self::all().iter().map(|c| c.id()).collect()
    }
}

impl Serialize for Class {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

impl<'de> Deserialize<'de> for Class {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let id = String::deserialize(d)?;
        Class::from_id(&id).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown class {id:?} (one of {})",
                Class::ids().join(", ")
            ))
        })
    }
}

impl From<SeriesClass> for Class {
    fn from(c: SeriesClass) -> Self {
        Class::Liver(c)
    }
}
