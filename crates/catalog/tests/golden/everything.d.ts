/**
 * Everything Reference Server
 * @remarks Tools typed Promise<JsonValue> declare no result type: they resolve to their structured content, else their one text block (parsed when the whole text is valid JSON, whatever the value, else the text as a string), else an array of their content blocks.
 */
declare namespace everything {
  interface Tools {
    /** Echoes back the input string */
    echo(args: EchoInput): Promise<JsonValue>;
    /**
     * Demonstrates how annotations can be used to provide metadata about content.
     * @mcp get-annotated-message
     */
    get_annotated_message(args: GetAnnotatedMessageInput): Promise<JsonValue>;
    /**
     * Returns all environment variables, helpful for debugging MCP server configuration
     * @mcp get-env
     */
    get_env(args?: {}): Promise<JsonValue>;
    /**
     * Returns up to ten resource links that reference different types of resources
     * @mcp get-resource-links
     */
    get_resource_links(args?: GetResourceLinksInput): Promise<JsonValue>;
    /** Returns a resource reference that can be used by MCP clients @mcp get-resource-reference */
    get_resource_reference(args?: GetResourceReferenceInput): Promise<JsonValue>;
    /**
     * Returns structured content along with an output schema for client data validation
     * @mcp get-structured-content
     */
    get_structured_content(args: GetStructuredContentInput): Promise<GetStructuredContentOutput>;
    /** Returns the sum of two numbers @mcp get-sum */
    get_sum(args: GetSumInput): Promise<JsonValue>;
    /** Returns a tiny MCP logo image. @mcp get-tiny-image */
    get_tiny_image(args?: {}): Promise<JsonValue>;
    /**
     * Compresses a single file using gzip compression. Depending upon the selected output type, returns either the compressed data as a gzipped resource or a resource link, allowing it to be downloaded in a subsequent request during the current session.
     * @mcp gzip-file-as-resource
     */
    gzip_file_as_resource(args?: GzipFileAsResourceInput): Promise<JsonValue>;
    /** Toggles simulated, random-leveled logging on or off. @mcp toggle-simulated-logging */
    toggle_simulated_logging(args?: {}): Promise<JsonValue>;
    /** Toggles simulated resource subscription updates on or off. @mcp toggle-subscriber-updates */
    toggle_subscriber_updates(args?: {}): Promise<JsonValue>;
    /**
     * Demonstrates a long running operation with progress updates.
     * @mcp trigger-long-running-operation
     */
    trigger_long_running_operation(args?: TriggerLongRunningOperationInput): Promise<JsonValue>;
    /**
     * Lists the current MCP roots provided by the client. Demonstrates the roots protocol capability even though this server doesn't access files.
     * @mcp get-roots-list
     */
    get_roots_list(args?: {}): Promise<JsonValue>;
    /** Trigger a Request from the Server for User Elicitation @mcp trigger-elicitation-request */
    trigger_elicitation_request(args?: {}): Promise<JsonValue>;
    /**
     * Trigger a URL elicitation so the client can direct the user to a browser flow. Supports two mechanisms: the request path (elicitation/create, default) which awaits the user's response, and the error path (UrlElicitationRequiredError, -32042) which signals the client to handle URL elicitation via the error response. Set errorPath=true to use the error path.
     * @mcp trigger-url-elicitation
     */
    trigger_url_elicitation(args: TriggerUrlElicitationInput): Promise<JsonValue>;
    /** Trigger a Request from the Server for LLM Sampling @mcp trigger-sampling-request */
    trigger_sampling_request(args: TriggerSamplingRequestInput): Promise<JsonValue>;
    /**
     * Simulates a deep research operation that gathers, analyzes, and synthesizes information. Demonstrates MCP task-based operations with progress through multiple stages. If 'ambiguous' is true and client supports elicitation, sends an elicitation request for clarification.
     * @mcp simulate-research-query
     */
    simulate_research_query(args: SimulateResearchQueryInput): Promise<JsonValue>;
  }
  interface EchoInput {
    /** Message to echo */
    message: string;
  }
  interface GetAnnotatedMessageInput {
    /** Type of message to demonstrate different annotation patterns */
    messageType: "error" | "success" | "debug";
    /** Whether to include an example image @default false */
    includeImage?: boolean;
  }
  interface GetResourceLinksInput {
    /** Number of resource links to return (1-10) @default 3 @minimum 1 @maximum 10 */
    count?: number;
  }
  interface GetResourceReferenceInput {
    /** @default "Text" */
    resourceType?: "Text" | "Blob";
    /** ID of the text resource to fetch @default 1 */
    resourceId?: number;
  }
  interface GetStructuredContentInput {
    /** Choose city */
    location: "New York" | "Chicago" | "Los Angeles";
  }
  interface GetStructuredContentOutput {
    /** Temperature in celsius */
    temperature: number;
    /** Weather conditions description */
    conditions: string;
    /** Humidity percentage */
    humidity: number;
  }
  interface GetSumInput {
    /** First number */
    a: number;
    /** Second number */
    b: number;
  }
  interface GzipFileAsResourceInput {
    /** Name of the output file @default "README.md.gz" */
    name?: string;
    /**
     * URL or data URI of the file content to compress
     * @format uri
     * @default "https://raw.githubusercontent.com/modelcontextprotocol/servers/refs/heads/main…
     */
    data?: string;
    /**
     * How the resulting gzipped file should be returned. 'resourceLink' returns a link to a resource that can be read later, 'resource' returns a full resource object.
     * @default "resourceLink"
     */
    outputType?: "resourceLink" | "resource";
  }
  interface TriggerLongRunningOperationInput {
    /** Duration of the operation in seconds @default 10 */
    duration?: number;
    /** Number of steps in the operation @default 5 */
    steps?: number;
  }
  interface TriggerUrlElicitationInput {
    /** The URL the user should open @format uri */
    url: string;
    /**
     * Message shown to the user before opening the URL
     * @default "Please open the link to complete this action."
     */
    message?: string;
    /** Optional explicit elicitation ID. Defaults to a random UUID. */
    elicitationId?: string;
    /**
     * Controls which elicitation mechanism is used. When false (default), sends an elicitation/create request (request path). When true, throws a UrlElicitationRequiredError (MCP error code -32042) so the client handles the URL elicitation via the error path rather than waiting for a response. To clear…
     * @default false
     */
    errorPath?: boolean;
  }
  interface TriggerSamplingRequestInput {
    /** The prompt to send to the LLM */
    prompt: string;
    /** Maximum number of tokens to generate @default 100 */
    maxTokens?: number;
  }
  interface SimulateResearchQueryInput {
    /** The research topic to investigate */
    topic: string;
    /**
     * Simulate an ambiguous query that requires clarification (triggers input_required status)
     * @default false
     */
    ambiguous?: boolean;
  }
}
