declare namespace memory {
  interface Tools {
    /** Create multiple new entities in the knowledge graph */
    create_entities(args: { entities: Entity[] }): Promise<{ entities: Entity[] }>;
    /** Create multiple new relations between entities in the knowledge graph. Relations should be in active voice */
    create_relations(args: { relations: Relation[] }): Promise<{ relations: Relation[] }>;
    /** Add new observations to existing entities in the knowledge graph */
    add_observations(args: AddObservationsInput): Promise<AddObservationsOutput>;
    /** Delete multiple entities and their associated relations from the knowledge graph */
    delete_entities(args: DeleteEntitiesInput): Promise<{ success: boolean; message: string }>;
    /** Delete specific observations from entities in the knowledge graph */
    delete_observations(args: DeleteObservationsInput): Promise<{ success: boolean; message: string }>;
    /** Delete multiple relations from the knowledge graph */
    delete_relations(args: DeleteRelationsInput): Promise<{ success: boolean; message: string }>;
    /** Read the entire knowledge graph */
    read_graph(args?: {}): Promise<{ entities: Entity[]; relations: Relation[] }>;
    /** Search for nodes in the knowledge graph based on a query */
    search_nodes(args: SearchNodesInput): Promise<{ entities: Entity[]; relations: Relation[] }>;
    /** Open specific nodes in the knowledge graph by their names */
    open_nodes(args: OpenNodesInput): Promise<{ entities: Entity[]; relations: Relation[] }>;
  }
  interface AddObservationsInput {
    observations: {
      /** The name of the entity to add the observations to */
      entityName: string;
      /** An array of observation contents to add */
      contents: string[];
    }[];
  }
  interface AddObservationsOutput { results: { entityName: string; addedObservations: string[] }[] }
  interface DeleteEntitiesInput {
    /** An array of entity names to delete */
    entityNames: string[];
  }
  interface DeleteObservationsInput {
    deletions: {
      /** The name of the entity containing the observations */
      entityName: string;
      /** An array of observations to delete */
      observations: string[];
    }[];
  }
  interface DeleteRelationsInput {
    /** An array of relations to delete */
    relations: Relation[];
  }
  interface SearchNodesInput {
    /** The search query to match against entity names, types, and observation content */
    query: string;
  }
  interface OpenNodesInput {
    /** An array of entity names to retrieve */
    names: string[];
  }
  interface Entity {
    /** The name of the entity */
    name: string;
    /** The type of the entity */
    entityType: string;
    /** An array of observation contents associated with the entity */
    observations: string[];
  }
  interface Relation {
    /** The name of the entity where the relation starts */
    from: string;
    /** The name of the entity where the relation ends */
    to: string;
    /** The type of the relation */
    relationType: string;
  }
}
