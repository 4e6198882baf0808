/** The slice of nlp.js (v4, no published types) this project uses. */
declare module '@nlpjs/core' {
  export interface Container {
    use(plugin: unknown): void;
    register(name: string, instance: unknown, isSingleton?: boolean): void;
  }
  export function containerBootstrap(settings?: Record<string, unknown>): Container;
}

declare module '@nlpjs/lang-en' {
  export const LangEn: unknown;
}

declare module '@nlpjs/nlp' {
  export interface NlpEntity {
    entity: string;
    type: string;
    option?: string;
    sourceText: string;
    utteranceText: string;
    start: number;
    end: number;
    accuracy?: number;
  }
  export interface NlpResult {
    locale: string;
    utterance: string;
    intent: string;
    score: number;
    classifications: { intent: string; score: number }[];
    entities: NlpEntity[];
    sentiment?: { score: number; vote: string };
  }
  export interface NluOutput {
    intent: string;
    score: number;
    classifications: { intent: string; score: number }[];
  }
  export class Nlp {
    constructor(settings: Record<string, unknown>);
    settings: { nlu?: Record<string, unknown> };
    ner: { process(input: { locale: string; utterance: string; threshold?: number }): Promise<{ entities: NlpEntity[] }> };
    nluManager: { process(input: { locale: string; utterance: string; context: Record<string, unknown>; settings?: Record<string, unknown> }): Promise<NluOutput> };
    getSentiment(locale: string, utterance: string): Promise<{ sentiment?: { score: number; vote: string } } | undefined>;
    addEntities(entities: Record<string, unknown>, locale: string): void;
    addDocument(locale: string, utterance: string, intent: string): void;
    addAnswer(locale: string, intent: string, answer: string): void;
    train(): Promise<unknown>;
    process(locale: string, utterance: string): Promise<NlpResult>;
    export(minified?: boolean): string;
    import(data: string): void;
  }
}
