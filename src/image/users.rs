//! `/etc/passwd` and `/etc/group` of a base, and `user[:group]` specs resolved
//! against them the way Docker's `--chown` and `USER` do.

use super::{BaseFacts, ImageError};
use crate::layer::Owner;

#[derive(Debug, Clone, Default)]
pub(crate) struct Accounts {
    /// (name, uid, primary gid)
    users: Vec<(String, u32, u32)>,
    /// (name, gid)
    groups: Vec<(String, u32)>,
}

impl Accounts {
    pub(crate) fn from_facts(facts: &BaseFacts) -> Self {
        Self::from_text(facts.passwd().unwrap_or(""), facts.group().unwrap_or(""))
    }

    /// The accounts of an `/etc/passwd` and an `/etc/group` text.
    pub(crate) fn from_text(passwd: &str, group: &str) -> Self {
        let mut accounts = Self::default();
        for line in passwd.lines() {
            let fields: Vec<&str> = line.split(':').collect();
            if let [name, _, uid, gid, ..] = fields.as_slice()
                && let (Ok(uid), Ok(gid)) = (uid.parse(), gid.parse())
            {
                accounts.users.push((name.to_string(), uid, gid));
            }
        }
        for line in group.lines() {
            let fields: Vec<&str> = line.split(':').collect();
            if let [name, _, gid, ..] = fields.as_slice()
                && let Ok(gid) = gid.parse()
            {
                accounts.groups.push((name.to_string(), gid));
            }
        }
        accounts
    }

    fn user(&self, name: &str) -> Option<(u32, u32)> {
        self.users
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, uid, gid)| (*uid, *gid))
    }

    fn group(&self, name: &str) -> Option<u32> {
        self.groups
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, gid)| *gid)
    }
}

/// Resolves `user`, `user:group`, `uid` or `uid:gid` to numbers. A user without a
/// group gets its primary group from `/etc/passwd` (0 for an unknown numeric uid).
pub(crate) fn resolve_owner(spec: &str, accounts: &Accounts) -> Result<Owner, ImageError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let (uid, primary_gid) = match user.parse::<u32>() {
        Ok(uid) => (
            uid,
            accounts
                .users
                .iter()
                .find(|(_, u, _)| *u == uid)
                .map_or(0, |(_, _, g)| *g),
        ),
        Err(_) => accounts
            .user(user)
            .ok_or_else(|| ImageError::UnknownAccount {
                name: user.to_string(),
                file: "passwd",
            })?,
    };
    let gid = match group {
        None => primary_gid,
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => accounts
                .group(g)
                .ok_or_else(|| ImageError::UnknownAccount {
                    name: g.to_string(),
                    file: "group",
                })?,
        },
    };
    Ok(Owner { uid, gid })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accounts() -> Accounts {
        let mut facts = BaseFacts::default();
        facts.files.insert(
            "etc/passwd".into(),
            "root:x:0:0:root:/root:/bin/bash\nastro:x:50000:50000::/home/astro:/bin/bash\n".into(),
        );
        facts
            .files
            .insert("etc/group".into(), "root:x:0:\nastro:x:50000:\n".into());
        Accounts::from_facts(&facts)
    }

    #[test]
    fn resolves_names_and_numbers() {
        let a = accounts();
        assert_eq!(
            resolve_owner("astro:0", &a).expect("ok"),
            Owner { uid: 50000, gid: 0 }
        );
        assert_eq!(
            resolve_owner("astro", &a).expect("ok"),
            Owner {
                uid: 50000,
                gid: 50000
            }
        );
        assert_eq!(
            resolve_owner("astro:astro", &a).expect("ok"),
            Owner {
                uid: 50000,
                gid: 50000
            }
        );
        assert_eq!(
            resolve_owner("1234:5", &a).expect("ok"),
            Owner { uid: 1234, gid: 5 }
        );
        assert_eq!(resolve_owner("root", &a).expect("ok"), Owner::ROOT);
    }

    #[test]
    fn unknown_names_are_errors() {
        let a = accounts();
        assert!(matches!(
            resolve_owner("nobody", &a),
            Err(ImageError::UnknownAccount { file: "passwd", .. })
        ));
        assert!(matches!(
            resolve_owner("astro:wheel", &a),
            Err(ImageError::UnknownAccount { file: "group", .. })
        ));
    }
}
