use serde_json::json;

use super::*;
use crate::ToolSpec;

fn tool(name: &str, description: &str, parameters: &[&str]) -> ToolSpec {
    let properties: serde_json::Map<String, Value> = parameters
        .iter()
        .map(|p| (p.to_string(), json!({ "type": "string" })))
        .collect();
    let mut spec = ToolSpec::new(name, json!({ "type": "object", "properties": properties }));
    spec.description = Some(description.to_string());
    spec
}

/// Three common servers' tools, as they describe themselves.
fn index() -> SearchIndex {
    let git = [
        tool(
            "git_status",
            "Shows the working tree status",
            &["repo_path"],
        ),
        tool(
            "git_diff_unstaged",
            "Shows changes in the working directory that are not yet staged",
            &["repo_path"],
        ),
        tool(
            "git_commit",
            "Records changes to the repository",
            &["repo_path", "message"],
        ),
        tool(
            "git_add",
            "Adds file contents to the staging area",
            &["repo_path", "files"],
        ),
        tool("git_reset", "Unstages all staged changes", &["repo_path"]),
        tool(
            "git_diff_staged",
            "Shows changes that are staged for commit",
            &["repo_path"],
        ),
        tool(
            "git_log",
            "Shows the commit logs",
            &["repo_path", "max_count"],
        ),
        tool(
            "git_create_branch",
            "Creates a new branch from an optional base branch",
            &["repo_path", "branch_name"],
        ),
        tool(
            "git_show",
            "Shows the contents of a commit",
            &["repo_path", "revision"],
        ),
    ];
    let memory = [
        tool(
            "create_entities",
            "Create multiple new entities in the knowledge graph",
            &["entities"],
        ),
        tool(
            "add_observations",
            "Add new observations to existing entities in the knowledge graph",
            &["observations"],
        ),
        tool(
            "delete_entities",
            "Delete multiple entities and their associated relations from the knowledge graph",
            &["entityNames"],
        ),
        tool("read_graph", "Read the entire knowledge graph", &[]),
        tool(
            "search_nodes",
            "Search for nodes in the knowledge graph based on a query",
            &["query"],
        ),
    ];
    let files = [
        tool(
            "read_file",
            "Read the complete contents of a file from the file system.",
            &["path"],
        ),
        tool(
            "write_file",
            "Create a new file or completely overwrite an existing file with new content.",
            &["path", "content"],
        ),
        tool(
            "edit_file",
            "Make line-based edits to a text file. Each edit replaces exact line sequences \
             with new content. Returns a git-style diff showing the changes made.",
            &["path", "edits", "dryRun"],
        ),
        tool(
            "list_directory",
            "Get a detailed listing of all files and directories in a specified path.",
            &["path"],
        ),
        tool(
            "search_files",
            "Recursively search for files and directories matching a pattern.",
            &["path", "pattern"],
        ),
        tool(
            "get_file_info",
            "Retrieve detailed metadata about a file or directory. Returns comprehensive \
             information including size, creation time, last modified time, permissions, \
             and type.",
            &["path"],
        ),
    ];
    let mut docs = Vec::new();
    for (namespace, tools) in [
        ("git", &git[..]),
        ("memory", &memory[..]),
        ("filesystem", &files[..]),
    ] {
        for spec in tools {
            docs.push(SearchDoc::new(namespace, namespace, None, &spec.name, spec));
        }
    }
    SearchIndex::new(docs)
}

fn top(index: &SearchIndex, query: &str, n: usize) -> Vec<String> {
    index
        .search(query, n, None)
        .hits
        .iter()
        .map(|&(doc, _)| format!("{}.{}", index.doc(doc).namespace, index.doc(doc).ident))
        .collect()
}

#[test]
fn a_task_in_its_own_words_finds_the_tool() {
    let index = index();
    assert_eq!(top(&index, "commit history", 1), ["git.git_log"]);
    let who = top(&index, "who changed the code recently", 2);
    assert!(who.contains(&"git.git_log".to_string()), "{who:?}");
    let remember = top(&index, "remember that Alice likes tea", 2);
    assert!(
        remember
            .iter()
            .any(|t| t == "memory.create_entities" || t == "memory.add_observations"),
        "{remember:?}"
    );
    assert_eq!(
        top(&index, "fetch the contents of a file", 1),
        ["filesystem.read_file"]
    );
}

#[test]
fn a_named_namespace_is_preferred() {
    let index = index();
    assert_eq!(top(&index, "search in memory", 1), ["memory.search_nodes"]);
    assert_eq!(
        top(&index, "search in filesystem", 1),
        ["filesystem.search_files"]
    );
}

#[test]
fn a_question_about_something_searches_the_namespace_its_words_point_to() {
    let index = index();
    // "know" is a memory word, and the namespace is `memory`; "about" asks to search.
    assert_eq!(
        top(&index, "what do you know about Alice", 1),
        ["memory.search_nodes"]
    );
    let forget = top(&index, "forget what you know about Bob", 1);
    assert_eq!(forget, ["memory.delete_entities"]);
}

#[test]
fn generic_verbs_do_not_outrank_the_nouns() {
    let index = index();
    // "get" is in get_file_info's name; the task is about commits.
    assert_eq!(top(&index, "get commit contents", 1), ["git.git_show"]);
}

#[test]
fn the_exact_name_wins_and_a_near_miss_is_found() {
    let index = index();
    assert_eq!(top(&index, "git_reset", 1), ["git.git_reset"]);
    assert_eq!(
        top(&index, "tools.memory.read_graph", 1),
        ["memory.read_graph"]
    );
    assert_eq!(top(&index, "readGraph", 1), ["memory.read_graph"]);
}

#[test]
fn a_query_matching_little_is_weak() {
    let index = index();
    assert!(index.search("book a flight to Lisbon", 5, None).weak);
    assert!(!index.search("commit history", 5, None).weak);
}

#[test]
fn a_search_can_stay_inside_one_namespace() {
    let index = index();
    let hits = index.search("read", 10, Some("memory")).hits;
    assert!(!hits.is_empty());
    assert!(hits
        .iter()
        .all(|&(doc, _)| index.doc(doc).namespace == "memory"));
}

/// HTTP operations as an OpenAPI source gives them: named by method and route, or as
/// `resource/verb`, with the REST verb and the route's words as keywords.
fn rest_index() -> SearchIndex {
    let operation = |name: &str, title: Option<&str>, description: &str, keywords: &str| {
        let mut spec = tool(name, description, &[]);
        spec.title = title.map(str::to_string);
        spec.keywords = Some(keywords.to_string());
        spec
    };
    let api = [
        operation(
            "GetCustomers",
            None,
            "Returns a list of your customers.",
            "list customers",
        ),
        operation(
            "GetCustomersCustomer",
            None,
            "Retrieves a Customer object.",
            "get customers",
        ),
        operation(
            "PostCustomers",
            None,
            "Creates a new customer object.",
            "create customers",
        ),
        operation(
            "DeleteSubscriptionsSubscriptionExposedId",
            None,
            "Cancels a customer's subscription immediately.",
            "delete subscriptions",
        ),
        operation(
            "GetSubscriptions",
            None,
            "By default, returns a list of subscriptions that have not been canceled.",
            "list subscriptions",
        ),
        operation(
            "pulls/list",
            Some("List pull requests"),
            "Lists pull requests in a specified repository.",
            "repos pulls",
        ),
        operation(
            "repos/list-pull-requests-associated-with-commit",
            Some("List pull requests associated with a commit"),
            "Lists the merged pull request that introduced the commit to the repository.",
            "repos commits pulls",
        ),
        operation(
            "actions/list-custom-images-for-org",
            Some("List custom images for an organization"),
            "List custom images for an organization.",
            "orgs actions hosted-runners images custom",
        ),
    ];
    let docs = api
        .iter()
        .map(|spec| SearchDoc::new("api", "api", None, &spec.name, spec))
        .collect();
    SearchIndex::new(docs)
}

#[test]
fn the_rest_verb_of_a_route_says_what_an_operation_does() {
    let index = rest_index();
    // `GetCustomers` lists; "customers" is not "custom".
    assert_eq!(top(&index, "list customers", 1), ["api.GetCustomers"]);
    // The verb its description starts with agrees too: cancelling is what this DELETE does.
    assert_eq!(
        top(&index, "cancel a subscription", 1),
        ["api.DeleteSubscriptionsSubscriptionExposedId"]
    );
}

#[test]
fn a_title_that_says_the_task_beats_a_longer_name() {
    let index = rest_index();
    assert_eq!(
        top(&index, "list pull requests for a repo", 1),
        ["api.pulls/list"]
    );
}

#[test]
fn an_order_is_for_what_its_verb_says() {
    let index = index();
    // The opening verb is the task; "staged changes" only say which.
    assert_eq!(
        top(
            &index,
            "commit the staged changes with the message 'fix typo'",
            1
        ),
        ["git.git_commit"]
    );
    // "list" here is a thing the order adds to.
    let add = top(
        &index,
        "add 'Alice likes tea' to the list of facts in memory",
        1,
    );
    assert_eq!(add, ["memory.add_observations"]);
    // git's own verb for adding to the index.
    assert_eq!(
        top(&index, "stage README.md for the next commit", 1),
        ["git.git_add"]
    );
}

#[test]
fn content_the_tool_is_given_does_not_pick_the_tool() {
    let index = index();
    // The quoted words are the file's text, not a search.
    assert_eq!(
        top(
            &index,
            "write 'search the commit log' to a file called notes.txt",
            1
        ),
        ["filesystem.write_file"]
    );
}

#[test]
fn a_negated_word_asks_for_its_opposite_or_for_nothing() {
    let index = index();
    assert_eq!(
        top(&index, "what have I changed but not staged yet", 1),
        ["git.git_diff_unstaged"]
    );
    // A question's participle ("modified") describes, it does not order an edit.
    assert_eq!(
        top(
            &index,
            "how big is the file data.csv and when was it last modified",
            1
        ),
        ["filesystem.get_file_info"]
    );
}

#[test]
fn an_http_method_opening_a_name_is_not_what_the_tool_does() {
    // Notion's own, as its server lists them.
    let tools = [
        tool(
            "API-post-search",
            "Notion | Search by title\nError Responses:\n400: Bad request",
            &["query", "sort", "filter", "start_cursor", "page_size"],
        ),
        tool(
            "API-retrieve-a-page",
            "Notion | Retrieve a page\nError Responses:\n400: Bad request",
            &["page_id", "filter_properties"],
        ),
        tool(
            "API-patch-page",
            "Notion | Update page properties\nError Responses:\n400: Bad request",
            &[
                "page_id",
                "properties",
                "in_trash",
                "archived",
                "icon",
                "cover",
            ],
        ),
        tool(
            "API-post-page",
            "Notion | Create a page\nError Responses:\n400: Bad request",
            &["parent", "properties", "children", "icon", "cover"],
        ),
    ];
    let docs = tools
        .iter()
        .map(|spec| SearchDoc::new("notion", "notion", None, &spec.name, spec))
        .collect();
    let index = SearchIndex::new(docs);
    // `post-search` searches; it is not only a `post` (create) that disagrees with "find".
    assert!(
        index.verbs[0].contains(&"search".to_string()),
        "{:?}",
        index.verbs[0]
    );
    assert!(!index.verbs[3].contains(&"search".to_string()));
    assert_eq!(
        top(&index, "find the notion page called Roadmap", 1),
        ["notion.API-post-search"]
    );
}

/// Servers that overlap, as they describe themselves: a local git, two forges, a workplace
/// suite and a test server.
fn overlapping_index() -> SearchIndex {
    let servers: [(&str, Vec<ToolSpec>); 5] = [
        (
            "git",
            vec![
                tool(
                    "git_log",
                    "Shows the commit logs",
                    &["repo_path", "max_count"],
                ),
                tool(
                    "git_checkout",
                    "Switches branches",
                    &["repo_path", "branch_name"],
                ),
            ],
        ),
        (
            "gitlab",
            vec![
                tool(
                    "list_commits",
                    "List repository commits with filtering options.",
                    &["project_id", "ref_name", "since", "until", "path", "author"],
                ),
                tool(
                    "get_commit",
                    "Get details of a specific commit.",
                    &["project_id", "sha"],
                ),
                tool(
                    "get_pipeline_test_report",
                    "Get pipeline test report.",
                    &["project_id", "pipeline_id"],
                ),
            ],
        ),
        (
            "github",
            vec![tool(
                "list_commits",
                "Get list of commits of a branch in a GitHub repository",
                &["owner", "repo", "sha"],
            )],
        ),
        (
            "ms365",
            vec![
                tool(
                    "list-todo-task-lists",
                    "Get a list of the todoTaskList objects and their properties. Lists all \
                     To Do task lists.",
                    &["top", "filter"],
                ),
                tool(
                    "create-todo-task-list",
                    "Create a new lists object. Creates a new Microsoft To Do task list.",
                    &["body"],
                ),
                tool(
                    "list-todo-tasks",
                    "Get the todoTask resources from the tasks navigation property of a \
                     specified todoTaskList. Lists tasks in a To Do list.",
                    &["todoTaskListId", "top", "filter"],
                ),
                tool(
                    "create-todo-task",
                    "Create a new task object in a specified todoTaskList. Creates a new task \
                     in a Microsoft To Do list.",
                    &["body", "todoTaskListId"],
                ),
                tool(
                    "list-team-channels",
                    "Retrieve the list of channels in this team.",
                    &["teamId"],
                ),
                tool(
                    "create-team-channel",
                    "Create a new channel in a team, as specified in the request body.",
                    &["body", "teamId"],
                ),
                tool(
                    "update-team-channel",
                    "Update the properties of the specified channel.",
                    &["body", "teamId", "channelId"],
                ),
                tool(
                    "send-channel-message",
                    "Send a new chatMessage in the specified channel.",
                    &["body", "teamId", "channelId"],
                ),
            ],
        ),
        (
            "everything",
            vec![
                tool("echo", "Echoes back the input string", &["message"]),
                tool("get-sum", "Returns the sum of two numbers", &["a", "b"]),
                tool(
                    "add-team-member",
                    "Add a new conversationMember to a team.",
                    &["body", "teamId"],
                ),
            ],
        ),
    ];
    let mut docs = Vec::new();
    for (namespace, tools) in &servers {
        for spec in tools {
            docs.push(SearchDoc::new(namespace, namespace, None, &spec.name, spec));
        }
    }
    SearchIndex::new(docs)
}

#[test]
fn a_place_only_one_server_speaks_of_is_on_that_server() {
    let index = overlapping_index();
    // Only git knows a checkout: the forges' commit lists are not this one's history.
    assert_eq!(
        top(&index, "who changed the code in this checkout recently", 1),
        ["git.git_log"]
    );
}

#[test]
fn adding_numbers_asks_for_their_sum() {
    let index = overlapping_index();
    assert_eq!(top(&index, "add 17 and 25", 1), ["everything.get-sum"]);
}

#[test]
fn after_an_order_a_word_that_could_be_a_verb_is_a_thing() {
    let index = overlapping_index();
    // "list" is where the task goes, not what to do; the list exists already.
    assert_eq!(
        top(&index, "add 'renew passport' to my Microsoft To Do list", 1),
        ["ms365.create-todo-task"]
    );
    // "an update" is the message; the channel it goes in exists.
    let post = top(&index, "post an update in the release channel on Teams", 3);
    assert_eq!(post[1], "ms365.send-channel-message", "{post:?}");
}
