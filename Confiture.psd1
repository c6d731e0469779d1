@{
    RootModule           = 'Confiture.PowerShell.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = '6f1f9a3e-2c4b-4f7e-9d35-8a1c0b7e5d42'
    Author               = 'The Confiture team'
    CompanyName          = 'Confiture'
    Copyright            = '(c) The Confiture team. MIT licence.'
    Description          = 'Zero-downtime schema-to-schema migrations between two PostgreSQL databases: postgres_fdw setup, FDW or binary COPY per table in key order under one snapshot, row count and checksum verification, a run report, and cleanup. Runs interactively, in scripts and in Azure Automation runbooks.'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')
    # Default table views of the objects the cmdlets emit.
    FormatsToProcess     = @('Confiture.Format.ps1xml')
    CmdletsToExport      = @(
        'Connect-ConfitureDatabase'
        'Enable-ConfitureFdw'
        'Get-ConfitureStrategy'
        'Invoke-ConfitureTableMigration'
        'Test-ConfitureMigration'
        'Remove-ConfitureFdw'
        'Get-ConfitureMigration'
        'Export-ConfitureReport'
        'Test-ConfitureCutover'
        'Sync-ConfitureMigration'
    )
    FunctionsToExport    = @()
    AliasesToExport      = @()
    VariablesToExport    = @()
    PrivateData          = @{
        PSData = @{
            Tags         = @('PostgreSQL', 'Migration', 'postgres_fdw', 'COPY', 'ZeroDowntime', 'Database', 'Linux', 'Windows', 'PSEdition_Core', 'AzureAutomation', 'Runbook')
            ReleaseNotes = @'
0.1.0
- Connect-ConfitureDatabase, Enable-ConfitureFdw, Get-ConfitureStrategy, Invoke-ConfitureTableMigration,
  Test-ConfitureMigration and Remove-ConfitureFdw: a whole schema-to-schema migration in one pipeline.
- FDW (INSERT ... SELECT through postgres_fdw) and binary COPY strategies, each table in one target transaction;
  -DeferIndexes and -Parallel for large tables.
- Get-Help for every cmdlet and about_Confiture; table views for every output type; tab completion of schema
  and table names; -WhatIf prints the SQL; stable ErrorIds (Confiture.<Reason>) with recommended actions.
- Npgsql is loaded in a private AssemblyLoadContext: modules that ship another Npgsql work side by side.
- Runs in Azure Automation (PowerShell 7.4 runtime): import Confiture.zip.
- Unattended runs: -Force asks nothing; a question a non-interactive host cannot ask is
  Confiture.ConfirmationRequired, naming -Force and -Confirm:$false.
- Get-ConfitureMigration: the sessions recorded on a target, continued by a later process.
- Export-ConfitureReport: a run's results and verifications as self-contained HTML, Markdown or JSON.
- Table views that read at 80 columns; a view of its own for -Sync results; checksums in hex.
- MIT licence (LICENSE.txt in the module).
'@
        }
    }
}
