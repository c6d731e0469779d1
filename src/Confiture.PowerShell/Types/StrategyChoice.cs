namespace Confiture.PowerShell.Types;

/// <summary>How a table's rows travel from source to target.</summary>
public enum StrategyChoice
{
    /// <summary>Let the planner choose by table size.</summary>
    Auto,

    /// <summary><c>INSERT ... SELECT</c> through postgres_fdw, run on the target server: best for small tables.</summary>
    Fdw,

    /// <summary>A binary COPY stream from the source connection into the target connection: best for large tables.</summary>
    Copy,
}
