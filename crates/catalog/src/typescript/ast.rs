//! The small TypeScript type model that schemas are converted into before rendering.
//!
//! Converting first and rendering second keeps the two renderings (the multi-line declaration
//! file and the one-line search signature) describing exactly the same types, and lets equal
//! named types be recognised by value.

/// A TypeScript type expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum TsType {
    /// `unknown`, with the reason when it stands for something the schema said but TypeScript
    /// cannot express (rendered as a comment in declarations).
    Unknown(Option<String>),
    Never,
    String,
    Number,
    Boolean,
    Null,
    Undefined,
    /// A literal type, already in TypeScript source form (`"a"`, `3`, `true`).
    Literal(String),
    Array(Box<TsType>),
    Tuple(Tuple),
    Object(Object),
    Union(Vec<TsType>),
    Intersection(Vec<TsType>),
    /// A named type declared in the same namespace.
    Named(String),
}

/// `[A, B?, ...C[]]`: elements at index `required` and later are optional.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Tuple {
    pub elements: Vec<TsType>,
    pub required: usize,
    /// The type of further elements; `None` closes the tuple.
    pub rest: Option<Box<TsType>>,
}

/// An object type: declared properties and at most one string index signature.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub(crate) struct Object {
    pub properties: Vec<Property>,
    pub index: Option<Box<TsType>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Property {
    /// The property name exactly as in the schema (quoted on rendering when needed).
    pub name: String,
    pub optional: bool,
    pub ty: TsType,
    pub doc: Doc,
}

/// What a JSDoc comment says: a prepared description and `@tag value` lines.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub(crate) struct Doc {
    pub description: Option<String>,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Tag {
    pub name: &'static str,
    /// Empty for flag tags such as `@deprecated`.
    pub value: String,
}

impl Doc {
    pub fn is_empty(&self) -> bool {
        self.description.is_none() && self.tags.is_empty()
    }
}

impl TsType {
    /// Union of `members`, flattened and deduplicated; `unknown` absorbs everything.
    pub fn union(members: Vec<TsType>) -> TsType {
        let mut flat: Vec<TsType> = Vec::new();
        for member in members {
            match member {
                TsType::Union(inner) => {
                    for m in inner {
                        push_unique(&mut flat, m);
                    }
                }
                TsType::Unknown(reason) => return TsType::Unknown(reason),
                TsType::Never => {}
                other => push_unique(&mut flat, other),
            }
        }
        match flat.len() {
            0 => TsType::Never,
            1 => flat.remove(0),
            _ => TsType::Union(flat),
        }
    }

    /// Intersection of `members`, flattened and deduplicated. A plain `unknown` is dropped
    /// (`T & unknown` is `T`); an `unknown` that carries a reason stays, so the comment
    /// saying what was left out survives.
    pub fn intersection(members: Vec<TsType>) -> TsType {
        let mut flat: Vec<TsType> = Vec::new();
        for member in members {
            match member {
                TsType::Intersection(inner) => {
                    for m in inner {
                        push_unique(&mut flat, m);
                    }
                }
                TsType::Unknown(None) => {}
                other => push_unique(&mut flat, other),
            }
        }
        match flat.len() {
            0 => TsType::Unknown(None),
            1 => flat.remove(0),
            _ => TsType::Intersection(flat),
        }
    }

    /// Whether every value of `self` is also a value of `wider`, judged syntactically
    /// (equal types, or a member of a union). `false` means "not proven", never "wrong".
    pub fn fits_in(&self, wider: &TsType) -> bool {
        if matches!(wider, TsType::Unknown(_)) || self == wider {
            return true;
        }
        match (self, wider) {
            (TsType::Union(members), _) => members.iter().all(|m| m.fits_in(wider)),
            (_, TsType::Union(members)) => members.contains(self),
            (TsType::Never, _) => true,
            _ => false,
        }
    }
}

fn push_unique(list: &mut Vec<TsType>, ty: TsType) {
    if !list.contains(&ty) {
        list.push(ty);
    }
}
