//! Names on the gateway's own surface for what passthrough servers offer.
//!
//! A tool or prompt keeps its server's name when no other passthrough server offers the
//! same name and it is not one of the gateway's own tools (`search`, `execute`). Otherwise
//! every server that offers it serves it as `<server>__<name>`. The map depends only on the
//! set of names offered, never on which server came up first.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use codemode_upstream::Surface;
use rmcp::model::{Prompt, Tool};

use crate::handler::{EXECUTE_TOOL, SEARCH_TOOL};

/// The separator of a prefixed name.
pub const PREFIX_SEPARATOR: &str = "__";

/// Something a server offers, under the name the gateway serves it by.
#[derive(Debug, Clone)]
pub(crate) struct Named<T> {
    pub server: String,
    /// The server's own name for it.
    pub original: String,
    /// As the server gave it, with only `name` changed when it had to be.
    pub item: T,
}

/// The passthrough tools and prompts of every server, under their names on the surface.
#[derive(Debug, Default)]
pub(crate) struct DirectNames {
    pub tools: Vec<Named<Tool>>,
    pub prompts: Vec<Named<Prompt>>,
    tool_index: HashMap<String, usize>,
    prompt_index: HashMap<String, usize>,
}

impl DirectNames {
    pub fn build(surfaces: &[(String, Arc<Surface>)]) -> DirectNames {
        let (tools, tool_index) = name_all(
            surfaces,
            |surface| &surface.tools,
            |tool| tool.name.to_string(),
            |tool, name| tool.name = name.into(),
            &[SEARCH_TOOL, EXECUTE_TOOL],
        );
        let (prompts, prompt_index) = name_all(
            surfaces,
            |surface| &surface.prompts,
            |prompt| prompt.name.clone(),
            |prompt, name| prompt.name = name,
            &[],
        );
        DirectNames {
            tools,
            prompts,
            tool_index,
            prompt_index,
        }
    }

    pub fn tool(&self, name: &str) -> Option<&Named<Tool>> {
        self.tool_index.get(name).map(|&i| &self.tools[i])
    }

    pub fn prompt(&self, name: &str) -> Option<&Named<Prompt>> {
        self.prompt_index.get(name).map(|&i| &self.prompts[i])
    }
}

/// One kind of item (tools, or prompts) of every surface, renamed by [`surface_names`], in
/// surface order, with an index by surface name.
fn name_all<T: Clone>(
    surfaces: &[(String, Arc<Surface>)],
    items: impl Fn(&Surface) -> &Vec<T>,
    name_of: impl Fn(&T) -> String,
    rename: impl Fn(&mut T, String),
    reserved: &[&str],
) -> (Vec<Named<T>>, HashMap<String, usize>) {
    let offered = surfaces.iter().map(|(server, surface)| {
        let names = items(surface).iter().map(&name_of).collect::<Vec<_>>();
        (server, names)
    });
    let surface_names = surface_names(offered, reserved);
    let mut named = Vec::new();
    let mut index = HashMap::new();
    for (server, surface) in surfaces {
        for item in items(surface) {
            let original = name_of(item);
            let Some(name) = surface_names.get(&(server.clone(), original.clone())) else {
                continue;
            };
            if index.contains_key(name) {
                continue;
            }
            let mut item = item.clone();
            rename(&mut item, name.clone());
            index.insert(name.clone(), named.len());
            named.push(Named {
                server: server.clone(),
                original,
                item,
            });
        }
    }
    (named, index)
}

/// `(server, original) → name on the surface`, by the rule in the module's header. A
/// prefixed name that is itself taken is left out (and said once in the log).
fn surface_names<'a>(
    offered: impl Iterator<Item = (&'a String, Vec<String>)>,
    reserved: &[&str],
) -> HashMap<(String, String), String> {
    let offered: Vec<(&String, Vec<String>)> = offered.collect();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for (_, names) in &offered {
        let unique: HashSet<&str> = names.iter().map(String::as_str).collect();
        for name in unique {
            *count.entry(name).or_default() += 1;
        }
    }
    let shared = |name: &str| count.get(name).copied().unwrap_or(0) > 1 || reserved.contains(&name);
    let mut taken: HashSet<String> = offered
        .iter()
        .flat_map(|(_, names)| names.iter())
        .filter(|name| !shared(name))
        .cloned()
        .collect();
    let mut map = HashMap::new();
    for (server, names) in &offered {
        for name in names {
            let surface_name = if shared(name) {
                let prefixed = format!("{server}{PREFIX_SEPARATOR}{name}");
                if !taken.insert(prefixed.clone()) {
                    tracing::warn!(server = %server, name = %name, "passthrough: `{prefixed}` is taken too; not serving this one");
                    continue;
                }
                prefixed
            } else {
                name.clone()
            };
            map.insert(((*server).clone(), name.clone()), surface_name);
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str) -> Tool {
        Tool::new(name.to_string(), "", Arc::new(serde_json::Map::new()))
    }

    fn surface(tools: &[&str]) -> Arc<Surface> {
        Arc::new(Surface {
            tools: tools.iter().map(|n| tool(n)).collect(),
            ..Surface::default()
        })
    }

    #[test]
    fn unique_names_stay_and_shared_ones_take_their_servers_prefix() {
        let surfaces = vec![
            ("git".to_string(), surface(&["log", "status", "search"])),
            ("jira".to_string(), surface(&["status", "create"])),
        ];
        let names = DirectNames::build(&surfaces);
        let listed: Vec<(&str, &str, &str)> = names
            .tools
            .iter()
            .map(|t| (t.server.as_str(), t.original.as_str(), t.item.name.as_ref()))
            .collect();
        assert_eq!(
            listed,
            [
                ("git", "log", "log"),
                ("git", "status", "git__status"),
                ("git", "search", "git__search"),
                ("jira", "status", "jira__status"),
                ("jira", "create", "create"),
            ]
        );
        assert_eq!(
            names.tool("jira__status").map(|t| t.original.as_str()),
            Some("status")
        );
        assert!(names.tool("status").is_none());
    }

    #[test]
    fn the_map_does_not_depend_on_the_order_servers_came_up_in() {
        let a = ("a".to_string(), surface(&["x", "y"]));
        let b = ("b".to_string(), surface(&["y", "z"]));
        let one = DirectNames::build(&[a.clone(), b.clone()]);
        let other = DirectNames::build(&[b, a]);
        let mut first: Vec<String> = one.tools.iter().map(|t| t.item.name.to_string()).collect();
        let mut second: Vec<String> = other
            .tools
            .iter()
            .map(|t| t.item.name.to_string())
            .collect();
        first.sort();
        second.sort();
        assert_eq!(first, second);
    }
}
