@{
    RootModule           = 'Confiture.PowerShell.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = '6f1f9a3e-2c4b-4f7e-9d35-8a1c0b7e5d42'
    Author               = 'The Confiture team'
    CompanyName          = 'Confiture'
    Copyright            = '(c) The Confiture team. MIT licence.'
    Description          = 'Zero-downtime schema-to-schema migrations between two PostgreSQL databases: postgres_fdw setup, FDW or binary COPY per table, verification and cleanup.'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')
    CmdletsToExport      = @(
        'Connect-ConfitureDatabase'
        'Enable-ConfitureFdw'
        'Get-ConfitureStrategy'
        'Invoke-ConfitureTableMigration'
        'Test-ConfitureMigration'
        'Remove-ConfitureFdw'
    )
    FunctionsToExport    = @()
    AliasesToExport      = @()
    VariablesToExport    = @()
    PrivateData          = @{
        PSData = @{
            Tags         = @('PostgreSQL', 'Migration', 'postgres_fdw', 'COPY', 'ZeroDowntime', 'Database', 'Linux', 'Windows', 'PSEdition_Core')
            LicenseUri   = 'https://opensource.org/licenses/MIT'
            ReleaseNotes = 'First release: connect, postgres_fdw setup and cleanup, FDW and COPY table migration, strategy planning and verification.'
        }
    }
}
